using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Cli;

/// <summary>Bad options and settings: one line on stderr, exit code 2, nothing on stdout, nothing listening.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("--listen", "nonsense", "--shadow", "127.0.0.1:9")]
    [InlineData("--listen", "127.0.0.1", "--shadow", "127.0.0.1:9")]
    [InlineData("--shadow", "shadow.example:80")]
    [InlineData("--shadow", "127.0.0.1:9", "--format", "xml")]
    [InlineData("--shadow", "127.0.0.1:9", "--production-timeout", "soon")]
    [InlineData("--shadow", "127.0.0.1:9", "--shadow-timeout", "-1")]
    [InlineData("--shadow", "127.0.0.1:9", "--max-connections", "0")]
    [InlineData("--shadow", "127.0.0.1:9", "--client-keep-alive", "maybe")]
    [InlineData("--shadow", "127.0.0.1:9", "--config", "/nonexistent/settings.json")]
    [InlineData("--shadow", "127.0.0.1:8001")]
    [InlineData("--shadow", "127.0.0.1:9", "--no-such-option")]
    [InlineData("--production", "127.0.0.1:80")]
    public async Task A_bad_value_is_one_line_on_stderr_and_exit_code_2(params string[] arguments)
    {
        string line = await RefusedAsync(arguments);
        Assert.StartsWith("ShadowProxy: ", line, StringComparison.Ordinal);
    }

    /// <summary>Runs the program with a value it must refuse: exit code 2, nothing on stdout, one line on stderr (returned).</summary>
    private static async Task<string> RefusedAsync(params string[] arguments)
    {
        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(arguments);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        return Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task The_error_names_the_option_and_the_value()
    {
        (_, _, string stderr) = await ProxyProcess.RunAsync("--shadow", "127.0.0.1:9", "--format", "xml");

        Assert.Equal("ShadowProxy: --format: 'xml' is not a format: use text or json\n", stderr);
    }

    [Theory]
    [InlineData("--shadow-methods", "GET,\tPOST")]
    [InlineData("--shadow-methods", "GET\r\n")]
    [InlineData("--compare-ignore-field", "timestamp\n")]
    [InlineData("--compare-ignore-field", "a\u0001b")]
    [InlineData("--exclude", "/health\r\n")]
    public async Task A_list_value_with_a_control_character_is_refused_with_exit_2(string option, string value)
    {
        // Also at an item's edge, where splitting the list on commas trims it away: a tab or line break is never meant.
        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync("--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", option, value);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"ShadowProxy: {option}: a value holds a control character\n", stderr);
    }

    [Theory]
    [InlineData("--shadow-header", "X-Shadow: 1\r\n")]
    [InlineData("--shadow-header", "X-Shadow: 1\r\nX-Injected: 2")]
    [InlineData("--shadow-host", "\nshadow.internal")]
    [InlineData("--shadow-host", "shadow.internal\t")]
    [InlineData("--shadow-percent", "50\n")]
    [InlineData("--shadow-percent", "\t25")]
    [InlineData("--shadow-sticky", "cookie:session\r\n")]
    [InlineData("--shadow-sticky", "cookie:a\nb")]
    [InlineData("--log-file", "lines\n.log")]
    public async Task A_single_value_with_a_control_character_is_refused_in_one_line_with_exit_2(string option, string value)
    {
        // Trimmed first, a line break at an edge used to vanish and the value was taken; the error must not echo it.
        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync("--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", option, value);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"ShadowProxy: {option}: the value holds a control character\n", stderr);
    }

    [Theory]
    [InlineData("--metrics-listen", "127.0.0.1:9464\nx", "'127.0.0.1:9464\\nx' is not an address")]
    [InlineData("--production", "\r\n127.0.0.1:80", "'\\r\\n127.0.0.1:80' is not an address")]
    [InlineData("--format", "xml\njson", "'xml\\njson' is not a format")]
    [InlineData("--production-timeout", "5\n6", "'5\\n6' is not a number of seconds")]
    [InlineData("--max-connections", "10\u000b", "'10\\u000b' is not a whole number")]
    [InlineData("--client-keep-alive", "on\roff", "'on\\roff' is not on or off")]
    public async Task A_refused_value_with_a_line_break_is_echoed_in_one_line(string option, string value, string echo)
    {
        // The value is quoted with its control characters escaped: a raw line break would split the one-line error.
        string line = await RefusedAsync("--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", option, value);
        Assert.StartsWith($"ShadowProxy: {option}: {echo}", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_word_with_control_characters_is_echoed_without_them()
    {
        // System.CommandLine's message quotes the word as typed: a terminal escape and a bell reached stderr raw.
        string line = await RefusedAsync("--shadow", "127.0.0.1:9", "a\u001b[31mb\u0007");
        Assert.Equal("ShadowProxy: Unrecognized command or argument 'a [31mb '.", line);
    }

    [Theory]
    [InlineData("--production-timeout", "NaN")]
    [InlineData("--shadow-timeout", "-nan")]
    [InlineData("--drain-timeout", "NaN")]
    [InlineData("--stats-interval", "NaN")]
    [InlineData("--shadow-percent", "NaN")]
    public async Task Not_a_number_is_a_bad_value_not_a_crash_or_a_silent_start(string option, string value)
    {
        // NaN parses as a double and fails every comparison, so range checks written as "< min or > max" let it through.
        string line = await RefusedAsync("--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", option, value);
        Assert.StartsWith($"ShadowProxy: {option}: '{value}' is not a ", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--production-timeout", "1e-300")]
    [InlineData("--shadow-timeout", "0.0004")]
    [InlineData("--client-timeout", "0")]
    public async Task A_timeout_under_a_millisecond_is_a_bad_value_not_a_proxy_that_times_out_every_request(string option, string value)
    {
        string line = await RefusedAsync("--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", option, value);
        Assert.Equal($"ShadowProxy: {option}: '{value}' is not a number of seconds from 0.001 to 86400", line);
    }

    [Fact]
    public async Task An_empty_config_path_is_a_bad_value()
    {
        string line = await RefusedAsync("--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", "--config", "");
        Assert.StartsWith("ShadowProxy: --config: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_list_with_a_control_character_in_the_settings_file_is_refused_with_exit_2()
    {
        using var directory = new TempDirectory();
        string settings = directory.WriteLines("appsettings.json", """{ "ShadowProxy": { "ShadowMethods": [ "GET", "POST\t" ] } }""");

        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(
            "--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", "--config", settings);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal("ShadowProxy: --shadow-methods: a value holds a control character\n", stderr);
    }

    [Fact]
    public async Task Metrics_on_the_listen_port_is_refused_before_either_binds()
    {
        int port = ProxyProcess.FreePort();

        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(
            "--listen", $"0.0.0.0:{port}", "--shadow", "127.0.0.1:9", "--metrics-listen", $"127.0.0.1:{port}");

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Equal($"ShadowProxy: --metrics-listen 127.0.0.1:{port} uses the proxy's own port\n", stderr);
    }

    [Fact]
    public async Task Missing_shadow_says_how_to_give_one()
    {
        (_, _, string stderr) = await ProxyProcess.RunAsync("--listen", "127.0.0.1:0");

        Assert.Contains("--shadow is required", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_lists_every_contract_option()
    {
        (int exitCode, string stdout, _) = await ProxyProcess.RunAsync("--help");

        Assert.Equal(0, exitCode);
        foreach (string option in new[] { "--listen", "--production", "--shadow", "--exclude", "--log-file", "--format", "--config", "--production-timeout", "--shadow-timeout", "demo" })
        {
            Assert.Contains(option, stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Help_says_that_every_option_can_also_come_from_the_settings_file_or_the_environment()
    {
        // README documents both; --help named neither, so a newcomer reading it learnt of no SHADOWPROXY_ variable.
        (int exitCode, string stdout, _) = await ProxyProcess.RunAsync("--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("\"ShadowProxy\" section of the settings file", stdout, StringComparison.Ordinal);
        Assert.Contains("SHADOWPROXY_SHADOW=10.0.0.7:80", stdout, StringComparison.Ordinal);
        Assert.Contains("the command line wins", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_says_that_a_head_must_arrive_whole_within_the_client_timeout()
    {
        // A head is cut --client-timeout after its first byte however steadily it arrives (LimitTests), so "may stay
        // silent inside a request" told a newcomer the wrong limit for the head.
        (int exitCode, string stdout, _) = await ProxyProcess.RunAsync("--help");

        Assert.Equal(0, exitCode);
        string line = Assert.Single(stdout.Split('\n'), l => l.TrimStart().StartsWith("--client-timeout", StringComparison.Ordinal));
        Assert.Contains("a request head must arrive whole", line, StringComparison.Ordinal);
        Assert.Contains("silent inside a body", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Environment_variables_fill_settings_and_the_command_line_still_wins()
    {
        var environment = new System.Collections.Hashtable
        {
            ["SHADOWPROXY_SHADOW"] = "127.0.0.1:7070",
            ["SHADOWPROXY_PRODUCTION_TIMEOUT"] = "7",
            ["SHADOWPROXY_SHADOWTIMEOUT"] = "3",
            ["OTHER"] = "ignored",
        };

        Assert.True(ShadowProxy.Hosting.ProxyCommand.TryLoadSettings(
            new ShadowProxy.Hosting.CommandLineSettings(ProductionTimeout: "9"), out var settings, out string error, environment), error);
        Assert.Equal(7070, settings.Options.Shadow.Port);
        Assert.Equal(TimeSpan.FromSeconds(9), settings.Options.ProductionTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), settings.Options.ShadowTimeout);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("  ", " ")]
    public void A_log_file_and_a_stats_interval_left_blank_are_not_set(string? logFile, string? statsInterval)
    {
        var environment = new System.Collections.Hashtable();

        Assert.True(ShadowProxy.Hosting.ProxyCommand.TryLoadSettings(
            new ShadowProxy.Hosting.CommandLineSettings(Shadow: "127.0.0.1:9", LogFile: logFile, StatsInterval: statsInterval),
            out var settings, out string error, environment), error);
        Assert.Null(settings.LogFile);   // not a file named with spaces
        Assert.Null(settings.StatsInterval);
    }
}
