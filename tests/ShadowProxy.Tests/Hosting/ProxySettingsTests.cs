using Microsoft.Extensions.Configuration;
using ShadowProxy.Hosting;
using ShadowProxy.Tests.Infrastructure;

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

    [Theory]
    [InlineData("[::]:8001", "0.0.0.0:8001")]
    [InlineData("0.0.0.0:8001", "0.0.0.0:8001")]
    [InlineData("127.0.0.1:8001", "0.0.0.0:8001")]
    [InlineData("[::]:8001", "[::]:8001")]
    [InlineData("[::1]:8001", "[::]:8001")]
    [InlineData("0.0.0.0:8001", "127.0.0.1:8001")]
    [InlineData("127.0.0.1:8001", "[::ffff:127.0.0.1]:8001")]
    [InlineData("10.0.0.5:8001", "[::ffff:10.0.0.5]:8001")]
    [InlineData("[::ffff:127.0.0.1]:8001", "127.0.0.1:8001")]
    public void A_shadow_that_reaches_the_proxys_own_socket_is_refused(string listen, string shadow)
    {
        // A connection to 0.0.0.0 or [::] reaches this box's loopback, so each of these sends every copy back into the
        // proxy, which mirrors it again; the wildcard ones passed, and so did an IPv4-mapped IPv6 address ([::ffff:a.b.c.d]).
        Assert.False(TryCreate(listen, metrics: null, out string error, shadow));
        Assert.Equal($"--shadow {shadow} is the address the proxy listens on: requests would loop", error);
    }

    [Theory]
    [InlineData("127.0.0.1:8001", "127.0.0.2:8001")]
    [InlineData("127.0.0.1:8001", "[::]:8001")]
    [InlineData("0.0.0.0:8001", "0.0.0.0:8002")]
    public void A_shadow_on_another_address_or_port_of_the_box_is_accepted(string listen, string shadow)
    {
        Assert.True(TryCreate(listen, metrics: null, out string error, shadow), error);
    }

    [Theory]
    [InlineData("Shadow", "010.0.0.1:80", "8.0.0.1")]
    [InlineData("Shadow", "10.1:80", "10.0.0.1")]
    [InlineData("Production", "1:80", "0.0.0.1")]
    [InlineData("Production", "0x7f.0.0.1:80", "127.0.0.1")]
    [InlineData("Listen", "127.000.000.001:8001", "127.0.0.1")]
    public void An_ipv4_address_in_an_inet_aton_form_is_refused_not_read_as_another_host(string key, string value, string readAs)
    {
        // IPAddress reads these as octal, hex or with parts left out: the copies of production's traffic went to 8.0.0.1
        // for a zero-padded 010.0.0.1, with only the start-up line to show it.
        Assert.False(TryCreate(new() { [key] = value }, out string error));
        string option = key == "Listen" ? "--listen" : "--" + key.ToLowerInvariant();
        Assert.Equal(
            $"{option}: '{value}' is not an address HOST:PORT: an IPv4 address is four decimal numbers without leading zeros (this one would be read as {readAs})",
            error);
    }

    [Theory]
    [InlineData("10.0.0.7:80")]
    [InlineData("localhost:8080")]
    [InlineData("[::1]:80")]
    [InlineData("[::ffff:10.0.0.7]:80")]
    public void An_address_written_as_it_is_read_is_accepted(string shadow)
    {
        Assert.True(TryCreate(new() { ["Shadow"] = shadow }, out string error), error);
    }

    [Fact]
    public void A_settings_file_in_a_directory_that_does_not_exist_says_so()
    {
        // The error used to end with the directory alone ("--config: cannot read '/nonexistent/x.json': /nonexistent/").
        using var directory = new TempDirectory();
        string file = directory.File("missing/settings.json");

        Assert.False(ProxyCommand.TryLoadSettings(
            new CommandLineSettings(Shadow: "127.0.0.1:9", Config: file), out _, out string error, new System.Collections.Hashtable()));
        Assert.Equal($"--config: cannot read '{file}': its directory does not exist", error);
    }

    [Fact]
    public void A_missing_shadow_names_each_place_it_can_be_given()
    {
        // It named the command line and "ShadowProxy:Shadow" (configuration's path syntax), not the environment variable.
        using var directory = new TempDirectory();
        string file = directory.WriteLines("settings.json", "{ \"ShadowProxy\": { } }");

        Assert.False(ProxyCommand.TryLoadSettings(
            new CommandLineSettings(Config: file), out _, out string error, new System.Collections.Hashtable()));
        Assert.Equal(
            "--shadow is required: give --shadow HOST:PORT, \"Shadow\" in the settings file's \"ShadowProxy\" section, or SHADOWPROXY_SHADOW",
            error);
    }

    [Fact]
    public void A_settings_file_that_does_not_exist_says_so_in_plain_words()
    {
        // The error used to be the file provider's: "The configuration file 'x.json' was not found and is not
        // optional. The expected physical path was '...'."
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");

        Assert.False(ProxyCommand.TryLoadSettings(
            new CommandLineSettings(Shadow: "127.0.0.1:9", Config: file), out _, out string error, new System.Collections.Hashtable()));
        Assert.Equal($"--config: cannot read '{file}': no such file", error);
    }

    [Fact]
    public void A_settings_file_that_is_not_json_says_where_it_is_not()
    {
        // The error used to stop at "Failed to load configuration from file '...'", without the JSON reader's reason.
        using var directory = new TempDirectory();
        string file = directory.WriteLines("settings.json", "{ \"ShadowProxy\": { \"Shadow\": \"127.0.0.1:9\" }");

        Assert.False(ProxyCommand.TryLoadSettings(
            new CommandLineSettings(Config: file), out _, out string error, new System.Collections.Hashtable()));
        Assert.StartsWith($"--config: cannot read '{file}': ", error, StringComparison.Ordinal);
        Assert.Contains("LineNumber: 1", error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
    }

    private static bool TryCreate(Dictionary<string, string> keys, out string error)
    {
        var values = new Dictionary<string, string?> { [$"{ProxySettings.Section}:Shadow"] = "127.0.0.1:9" };
        foreach ((string key, string value) in keys)
        {
            values[$"{ProxySettings.Section}:{key}"] = value;
        }

        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return ProxySettings.TryCreate(configuration, excludeOverride: null, out _, out error);
    }

    private static bool TryCreate(string listen, string? metrics, out string error, string shadow = "127.0.0.1:9")
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                [$"{ProxySettings.Section}:Listen"] = listen,
                [$"{ProxySettings.Section}:Shadow"] = shadow,
                [$"{ProxySettings.Section}:MetricsListen"] = metrics,
            })
            .Build();
        return ProxySettings.TryCreate(configuration, excludeOverride: null, out _, out error);
    }
}
