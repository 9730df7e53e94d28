namespace ShadowProxy.Http;

/// <summary>The Connection field's options this proxy acts on (RFC 9110 §7.6.1); others are ignored.</summary>
[Flags]
internal enum ConnectionOptions
{
    None = 0,
    Close = 1,
    KeepAlive = 2,
    Upgrade = 4,
}
