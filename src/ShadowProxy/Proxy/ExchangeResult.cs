using ShadowProxy.Logging;

namespace ShadowProxy.Proxy;

/// <summary>What one request exchange left behind for its connection.</summary>
/// <param name="KeepClientOpen">The client connection can carry another request.</param>
/// <param name="RequestUnread">Request bytes may still be arriving: let the answer reach the client before closing.</param>
/// <param name="Record">The request line so far: production's side is final, the shadow's is filled in when its exchange ends.</param>
internal sealed record ExchangeResult(bool KeepClientOpen, bool RequestUnread, RequestRecord Record);
