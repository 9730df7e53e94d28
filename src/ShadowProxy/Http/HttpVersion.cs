namespace ShadowProxy.Http;

/// <summary>The two request versions a proxy for HTTP/1.x traffic accepts.</summary>
internal enum HttpVersion : byte
{
    Http10,
    Http11,
}
