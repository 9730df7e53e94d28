namespace ShadowProxy.Proxy;

/// <summary>How forwarding one request body ended.</summary>
internal enum BodyOutcome : byte
{
    Complete,

    /// <summary>The client closed its connection before the body was complete.</summary>
    ClientClosed,

    /// <summary>The chunked framing is invalid: 400, if production has not answered yet.</summary>
    Malformed,

    /// <summary>The client went silent for longer than the client timeout.</summary>
    TimedOut,

    /// <summary>Production stopped taking the body (it answered early, or closed).</summary>
    ProductionClosed,

    /// <summary>The proxy stopped waiting for the body: production's response is complete, or the exchange was aborted.</summary>
    Cancelled,
}
