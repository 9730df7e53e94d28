using Microsoft.Extensions.Configuration;
using ShadowProxy.Hosting;

namespace ShadowProxy.Tests.Hosting;

/// <summary>
/// The settings checks that need no process: a metrics endpoint collides with the proxy's listening socket only when
/// both could hold the same address and port (the process-level refusal is in Cli/CommandLineTests).
/// </summary>
public sealed class ProxySettingsTests
{
    [Theory]
    [InlineData("0.0.0.0:8001", "127.0.0.1:8001")]
    [InlineData("127.0.0.1:8001", "0.0.0.0:8001")]
    [InlineData("127.0.0.1:8001", "127.0.0.1:8001")]
    [InlineData("[::1]:8001", "[::]:8001")]
    public void Metrics_on_an_address_the_listener_also_holds_is_refused(string listen, string metrics)
    {
        Assert.False(TryCreate(listen, metrics, out string error));
        Assert.Equal($"--metrics-listen {metrics} uses the proxy's own port", error);
    }

    [Theory]
    [InlineData("127.0.0.1:8001", "127.0.0.2:8001")]
    [InlineData("127.0.0.1:8001", "127.0.0.1:9090")]
    [InlineData("0.0.0.0:8001", "0.0.0.0:9090")]
    public void Metrics_on_another_address_or_port_is_accepted(string listen, string metrics)
    {
        Assert.True(TryCreate(listen, metrics, out string error), error);
    }

    [Theory]
    [InlineData("[::1]:9090")]
    [InlineData("[::]:9090")]
    public void Metrics_on_an_ipv6_address_is_refused_as_a_bad_value(string metrics)
    {
        // The HttpListener behind the endpoint cannot take an IPv6 address: started, it failed with a stack trace.
        Assert.False(TryCreate("127.0.0.1:8001", metrics, out string error));
        Assert.Equal($"--metrics-listen: '{metrics}' is an IPv6 address, which the metrics endpoint cannot listen on: use an IPv4 address or 0.0.0.0", error);
    }

    private static bool TryCreate(string listen, string metrics, out string error)
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                [$"{ProxySettings.Section}:Listen"] = listen,
                [$"{ProxySettings.Section}:Shadow"] = "127.0.0.1:9",
                [$"{ProxySettings.Section}:MetricsListen"] = metrics,
            })
            .Build();
        return ProxySettings.TryCreate(configuration, excludeOverride: null, out _, out error);
    }
}
