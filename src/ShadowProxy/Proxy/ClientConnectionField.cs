using ShadowProxy.Http;

namespace ShadowProxy.Proxy;

/// <summary>The Connection field the client's copy of a response carries, and whether the proxy closes after it.</summary>
internal readonly record struct ClientConnectionField(bool Closes, bool KeepAliveNeeded)
{
    public static ClientConnectionField None => default;

    public ReadOnlySpan<byte> Bytes => Closes ? HeadRewriter.ConnectionClose
        : KeepAliveNeeded ? HeadRewriter.ConnectionKeepAlive
        : [];
}
