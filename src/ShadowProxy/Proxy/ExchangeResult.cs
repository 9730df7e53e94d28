using ShadowProxy.Logging;

namespace ShadowProxy.Proxy;

/// <summary>What one request exchange left behind for its connection.</summary>
/// <param name="KeepClientOpen">The client connection can carry another request.</param>
/// <param name="RequestUnread">Request bytes may still be arriving: let the answer reach the client before closing.</param>
/// <param name="Record">The request line so far: production's side is final, the shadow's is filled in when its exchange ends.</param>
internal sealed record ExchangeResult(bool KeepClientOpen, bool RequestUnread, RequestRecord Record)
{
    /// <summary>
    /// Production failed part-way through an answer that the client frames by the close: the connection must end with
    /// a reset, as a close would tell the client that the cut answer is whole.
    /// </summary>
    public bool ResetClient { get; init; }

    /// <summary>
    /// Bytes of the request's body that the client had not sent yet when the exchange ended (an early answer, a 502):
    /// a client that sends its whole body before it reads (Python's http.client) sends them all.
    /// <see cref="long.MaxValue"/> for a chunked body, whose end is unknown.
    /// </summary>
    public long UnreadBodyLength { get; init; }
}
