using System.Net;

namespace ShadowProxy.Hosting;

internal static class WildcardAddresses
{
    /// <summary>0.0.0.0 or [::]: a socket bound to it listens on every address of the box.</summary>
    public static bool IsWildcard(this IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
}
