namespace ShadowProxy.Http;

/// <summary>What the proxy needs to know about one backend response head.</summary>
/// <param name="StatusCode">The three-digit status.</param>
/// <param name="Body">How the body that follows is framed, given the request it answers.</param>
/// <param name="ContentLength">The body's length when <paramref name="Body"/> is <see cref="BodyKind.ContentLength"/>.</param>
/// <param name="ServerWantsClose">The backend will close after this response.</param>
/// <param name="Version">The status line's version: an HTTP/1.0 answer persists only with keep-alive (RFC 9112 §9.3).</param>
/// <param name="LengthOverridden">
/// Content-Length came with Transfer-Encoding, which overrides it: a proxy forwarding the head must drop the length
/// (RFC 9112 §6.3 item 3), or the next hop could frame the body by it.
/// </param>
internal readonly record struct ResponseHead(
    int StatusCode, BodyKind Body, long ContentLength, bool ServerWantsClose, HttpVersion Version = HttpVersion.Http11, bool LengthOverridden = false)
{
    /// <summary>An interim answer (100 Continue, 103 Early Hints): a final response follows on the same connection.</summary>
    public bool IsInterim => StatusCode is >= 100 and < 200 and not 101;
}
