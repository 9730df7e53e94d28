namespace ShadowProxy.Proxy;

/// <summary>Why a backend exchange produced no complete response. The request line names each with one word.</summary>
internal enum BackendError : byte
{
    None,

    /// <summary>The connection was refused (or could not be made at all).</summary>
    Refused,

    /// <summary>Connecting or answering took longer than the backend's timeout.</summary>
    Timeout,

    /// <summary>The backend reset or closed the connection before its response was complete.</summary>
    Reset,

    /// <summary>The backend's bytes are not an HTTP/1.x response.</summary>
    InvalidResponse,

    /// <summary>The shadow fell further behind the client than its buffer allows; its copy was abandoned.</summary>
    Overflow,

    /// <summary>The request could not be forwarded whole (the client went away, or sent a malformed body).</summary>
    Aborted,
}
