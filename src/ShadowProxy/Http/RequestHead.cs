namespace ShadowProxy.Http;

/// <summary>What the proxy needs to know about one parsed request head.</summary>
/// <param name="Method">The method; a literal for the common ones, so no allocation.</param>
/// <param name="Target">The request-target exactly as sent (path and query): the URL of the request line.</param>
/// <param name="PathLength">How many characters of <paramref name="Target"/> come before the query.</param>
/// <param name="ContentLength">The body's length when <paramref name="Body"/> is <see cref="BodyKind.ContentLength"/>.</param>
/// <param name="ClientWantsClose">The client asked to close after this request (Connection: close, or HTTP/1.0 without keep-alive).</param>
/// <param name="IsUpgrade">Connection: upgrade with an Upgrade header (WebSocket and the like).</param>
/// <param name="ExpectsContinue">Expect: 100-continue: the client waits for an interim answer before the body.</param>
internal readonly record struct RequestHead(
    string Method,
    string Target,
    int PathLength,
    HttpVersion Version,
    BodyKind Body,
    long ContentLength,
    bool ClientWantsClose,
    bool IsUpgrade,
    bool ExpectsContinue)
{
    public bool IsConnect => ReferenceEquals(Method, KnownMethods.Connect);

    public bool IsHead => ReferenceEquals(Method, KnownMethods.Head);

    /// <summary>The path, without the query: what <c>--exclude</c> compares.</summary>
    public ReadOnlySpan<char> Path => Target.AsSpan(0, PathLength);
}
