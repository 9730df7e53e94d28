using ShadowProxy.Hosting;
using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Controls;

/// <summary>The mirroring options from the command line and the settings file, and their one-line errors.</summary>
public sealed class MirrorSettingsTests
{
    private static readonly System.Collections.Hashtable NoEnvironment = [];

    private static ProxySettings Load(CommandLineSettings commandLine)
    {
        Assert.True(ProxyCommand.TryLoadSettings(commandLine with { Shadow = "127.0.0.1:9", Config = commandLine.Config }, out ProxySettings settings, out string error, NoEnvironment), error);
        return settings;
    }

    [Fact]
    public void Every_option_reaches_the_policy()
    {
        MirrorPolicy policy = Load(new CommandLineSettings(
            ShadowPercent: "12.5", ShadowSticky: "cookie:session", ShadowMethods: "get, head", ShadowMaxInflight: "8",
            ShadowMaxBody: "1024", ShadowHeader: "X-Shadow:1", ShadowHost: "shadow.internal", Exclude: ["/health"])).Options.Mirror.Current;

        Assert.Equal(12.5, policy.Percent);
        Assert.Equal("cookie:session", policy.Sticky?.ToString());
        Assert.Equal(["GET", "HEAD"], policy.Methods!.Order(StringComparer.Ordinal));
        Assert.Equal(8, policy.MaxInflight);
        Assert.Equal(1024, policy.MaxBody);
        Assert.Equal("X-Shadow: 1", policy.ShadowHeader);
        Assert.Equal("shadow.internal", policy.ShadowHost);
        Assert.True(policy.Exclude.Contains("/health"));
        Assert.Empty(policy.UnsafeMethodsMirrored);
    }

    [Fact]
    public void The_defaults_mirror_everything_and_say_writes_are_duplicated()
    {
        MirrorPolicy policy = Load(new CommandLineSettings()).Options.Mirror.Current;

        Assert.Equal(100, policy.Percent);
        Assert.Null(policy.Methods);
        Assert.Equal(0, policy.MaxInflight);
        Assert.Equal(-1, policy.MaxBody);
        Assert.False(policy.MarksShadowCopy);
        Assert.Equal(["POST", "PUT", "PATCH", "DELETE", "any other"], policy.UnsafeMethodsMirrored);   // what the start-up warning names
    }

    [Fact]
    public async Task Exclude_as_one_comma_separated_string_in_the_file_or_environment_is_a_list_and_an_array_item_keeps_its_comma()
    {
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");
        await File.WriteAllTextAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "Exclude": "/health, /ready" } }""");
        Assert.True(ProxyCommand.TryLoadSettings(new CommandLineSettings(Config: file), out ProxySettings fromFile, out string error, NoEnvironment), error);
        ExcludedPaths excluded = fromFile.Options.Mirror.Current.Exclude;
        Assert.Equal(2, excluded.Count);
        Assert.True(excluded.Contains("/health"));
        Assert.True(excluded.Contains("/ready"));

        var environment = new System.Collections.Hashtable { ["SHADOWPROXY_EXCLUDE"] = "/live,/ready" };
        Assert.True(ProxyCommand.TryLoadSettings(new CommandLineSettings(Shadow: "127.0.0.1:9"), out ProxySettings fromEnvironment, out error, environment), error);
        Assert.True(fromEnvironment.Options.Mirror.Current.Exclude.Contains("/live"));
        Assert.True(fromEnvironment.Options.Mirror.Current.Exclude.Contains("/ready"));

        await File.WriteAllTextAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "Exclude": [ "/a,b" ] } }""");
        Assert.True(ProxyCommand.TryLoadSettings(new CommandLineSettings(Config: file), out ProxySettings fromArray, out error, NoEnvironment), error);
        Assert.True(fromArray.Options.Mirror.Current.Exclude.Contains("/a,b"));
    }

    [Fact]
    public async Task The_settings_file_keys_fill_the_policy_and_the_command_line_wins()
    {
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");
        await File.WriteAllTextAsync(file, """
            { "ShadowProxy": { "ShadowPercent": 30, "ShadowMethods": [ "GET", "POST" ], "ShadowMaxBody": 99, "Exclude": [ "/a", "/b" ], "CompareIgnoreFields": [ "timestamp" ] } }
            """);
        ProxySettings settings = Load(new CommandLineSettings(Config: file, ShadowPercent: "40"));
        MirrorPolicy policy = settings.Options.Mirror.Current;

        Assert.Equal(40, policy.Percent);
        Assert.Equal(["GET", "POST"], policy.Methods!.Order(StringComparer.Ordinal));
        Assert.Equal(["POST"], policy.UnsafeMethodsMirrored);
        Assert.Equal(99, policy.MaxBody);
        Assert.Equal(2, policy.Exclude.Count);
        Assert.Equal(["timestamp"], settings.Options.Comparison.IgnoredFields);
    }

    [Theory]
    [InlineData("shadow:http")]
    [InlineData("shadow:80:81")]
    [InlineData(":8080")]
    [InlineData("shadow\"x")]
    [InlineData("sha<dow>")]
    [InlineData("shadow\\x")]
    [InlineData("shadow:123456")]
    [InlineData("[::1")]
    public void A_shadow_host_that_is_not_host_or_host_port_is_refused(string value)
    {
        Assert.False(ProxyCommand.TryLoadSettings(new CommandLineSettings(Shadow: "127.0.0.1:9", ShadowHost: value), out _, out string error, NoEnvironment));
        Assert.StartsWith("--shadow-host: '", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("shadow.internal")]
    [InlineData("shadow.internal:8080")]
    [InlineData("10.0.0.7:80")]
    [InlineData("[::1]:8080")]
    [InlineData("[2001:db8::7]")]
    [InlineData("my-shadow_1.example")]
    public void A_shadow_host_name_or_address_with_a_port_is_accepted(string value)
    {
        MirrorPolicy policy = Load(new CommandLineSettings(ShadowHost: value)).Options.Mirror.Current;
        Assert.Equal(value, policy.ShadowHost);
    }

    [Theory]
    [InlineData("--shadow-percent", "101")]
    [InlineData("--shadow-percent", "half")]
    [InlineData("--shadow-sticky", "session")]
    [InlineData("--shadow-sticky", "body:x")]
    [InlineData("--shadow-sticky", "header:X-User-Id:")]   // no field is named with a colon: it never matched, every request went by chance
    [InlineData("--shadow-sticky", "cookie:a,b")]
    [InlineData("--shadow-methods", "GET,P(ST")]
    [InlineData("--shadow-max-inflight", "-1")]
    [InlineData("--shadow-max-body", "lots")]
    [InlineData("--shadow-header", "X-Shadow")]
    [InlineData("--shadow-header", "Content-Length: 1")]
    [InlineData("--shadow-host", "a b")]
    [InlineData("--compare-json-max-bytes", "-5")]
    [InlineData("--stats-interval", "0")]
    [InlineData("--metrics-listen", "9464")]
    public void A_bad_mirroring_value_is_an_error_naming_the_option(string option, string value)
    {
        // In process: the program turns this error into one stderr line and exit 2 (the process test below shows it once).
        var commandLine = option switch
        {
            "--shadow-percent" => new CommandLineSettings(ShadowPercent: value),
            "--shadow-sticky" => new CommandLineSettings(ShadowSticky: value),
            "--shadow-methods" => new CommandLineSettings(ShadowMethods: value),
            "--shadow-max-inflight" => new CommandLineSettings(ShadowMaxInflight: value),
            "--shadow-max-body" => new CommandLineSettings(ShadowMaxBody: value),
            "--shadow-header" => new CommandLineSettings(ShadowHeader: value),
            "--shadow-host" => new CommandLineSettings(ShadowHost: value),
            "--compare-json-max-bytes" => new CommandLineSettings(CompareJsonMaxBytes: value),
            "--stats-interval" => new CommandLineSettings(StatsInterval: value),
            _ => new CommandLineSettings(MetricsListen: value),
        };

        Assert.False(ProxyCommand.TryLoadSettings(commandLine with { Shadow = "127.0.0.1:9" }, out _, out string error, NoEnvironment));
        Assert.StartsWith($"{option}: '", error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
    }

    [Theory]
    [InlineData("health")]
    [InlineData("/health?full=1")]
    [InlineData("/a b")]
    [InlineData("/caf\u00e9")]
    public void An_exclude_path_that_can_never_match_is_a_bad_value(string path)
    {
        // The path compared is the request-target's before '?', visible ASCII from a '/': these were taken and never
        // matched, so the health checks they were for kept their request lines, without a word.
        Assert.False(ProxyCommand.TryLoadSettings(new CommandLineSettings(Shadow: "127.0.0.1:9", Exclude: ["/ready", path]), out _, out string error, NoEnvironment));
        Assert.Equal($"--exclude: '{path}' can never match: a path starts with '/', holds no '?' (the query is not compared) and no space", error);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/")]
    [InlineData("*")]
    [InlineData("/a,b")]
    public void An_exclude_path_a_request_can_have_is_accepted(string path)
    {
        Assert.True(Load(new CommandLineSettings(Exclude: [path])).Options.Mirror.Current.Exclude.Contains(path));
    }

    [Fact]
    public async Task A_bad_mirroring_value_on_the_command_line_is_one_line_on_stderr_and_exit_2()
    {
        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync("--shadow", "127.0.0.1:9", "--shadow-percent", "150");

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal("ShadowProxy: --shadow-percent: '150' is not a percentage from 0 to 100\n", stderr);
    }

    [Theory]
    [InlineData("--production")]
    [InlineData("--shadow")]
    public async Task A_backend_at_the_listen_address_is_refused_with_exit_2(string option)
    {
        int port = ProxyProcess.FreePort();
        string[] arguments = option == "--production"
            ? ["--listen", $"127.0.0.1:{port}", "--production", $"127.0.0.1:{port}", "--shadow", "127.0.0.1:9"]
            : ["--listen", $"0.0.0.0:{port}", "--shadow", $"127.0.0.1:{port}"];

        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(arguments);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"ShadowProxy: {option} 127.0.0.1:{port} is the address the proxy listens on: requests would loop\n", stderr);
    }

    [Fact]
    public async Task Start_up_warns_on_stderr_when_writes_are_duplicated_and_not_when_only_reads_are_mirrored()
    {
        await using var backend = LoopbackBackend.Start("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        string[] common = ["--production", backend.EndPoint.ToString(), "--shadow", backend.EndPoint.ToString()];
        string all = await StartAndStopAsync([.. common]);
        string reads = await StartAndStopAsync([.. common, "--shadow-methods", "GET,HEAD"]);

        Assert.Contains("Writes are duplicated", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Writes are duplicated", reads, StringComparison.Ordinal);
    }

    private static async Task<string> StartAndStopAsync(string[] arguments)
    {
        await using ProxyProcess proxy = ProxyProcess.Start([.. arguments, "--listen", $"127.0.0.1:{ProxyProcess.FreePort()}"]);
        await proxy.WaitUntilListeningAsync();
        proxy.Signal("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        return proxy.Stderr;
    }
}
