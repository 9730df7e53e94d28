namespace ShadowProxy.Http;

/// <summary>The field names the proxy acts on, compared without regard to case.</summary>
internal static class FieldNames
{
    public static ReadOnlySpan<byte> ContentLength => "Content-Length"u8;

    public static ReadOnlySpan<byte> TransferEncoding => "Transfer-Encoding"u8;

    public static ReadOnlySpan<byte> Connection => "Connection"u8;

    public static ReadOnlySpan<byte> KeepAlive => "Keep-Alive"u8;

    public static ReadOnlySpan<byte> ProxyConnection => "Proxy-Connection"u8;

    public static ReadOnlySpan<byte> Host => "Host"u8;

    public static ReadOnlySpan<byte> Upgrade => "Upgrade"u8;

    public static ReadOnlySpan<byte> Expect => "Expect"u8;

    public static bool Is(ReadOnlySpan<byte> name, ReadOnlySpan<byte> expected) =>
        name.Length == expected.Length && System.Text.Ascii.EqualsIgnoreCase(name, expected);

    /// <summary>Connection-scoped fields (RFC 9110 §7.6.1) that the proxy replaces with its own Connection field.</summary>
    public static bool IsConnectionScoped(ReadOnlySpan<byte> name) =>
        Is(name, Connection) || Is(name, KeepAlive) || Is(name, ProxyConnection);
}
