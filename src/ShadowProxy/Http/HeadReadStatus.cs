namespace ShadowProxy.Http;

/// <summary>How reading one request head ended. Expected outcomes are values, not exceptions.</summary>
internal enum HeadReadStatus : byte
{
    Complete,

    /// <summary>The client closed the connection cleanly before sending another request.</summary>
    ClientClosed,

    /// <summary>The client closed the connection part-way through a head.</summary>
    Truncated,

    /// <summary>Not a valid HTTP/1.x request head, or a shape that could smuggle a request: 400.</summary>
    Malformed,

    /// <summary>The head is larger than the limit: 431.</summary>
    TooLarge,

    /// <summary>The client did not send a whole head within the client timeout.</summary>
    TimedOut,
}
