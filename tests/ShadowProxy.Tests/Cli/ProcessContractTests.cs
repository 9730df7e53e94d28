using System.Text.Json;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Cli;

/// <summary>The built program as a real process, read the way Logstash reads it: stdout is request lines and nothing else.</summary>
public sealed class ProcessContractTests
{
    private const string TextLine = @"^\S+ (\d+\.\d{3}|-) (\d+\.\d{3}|-) (-?\d+\.\d{3}|-) (\d{3}|-) (\d{3}|-)$";
    private const string Ok = FaultyBackends.ProductionOk;

    [Fact]
    public async Task Stdout_carries_one_line_per_request_and_sigterm_drains_and_exits_0()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
        int port = ProxyProcess.FreePort();
        await using ProxyProcess proxy = ProxyProcess.Start(
            "--listen", $"127.0.0.1:{port}", "--production", production.EndPoint.ToString(), "--shadow", shadow.EndPoint.ToString(),
            "--exclude", "/health");
        await proxy.WaitUntilListeningAsync();
        var endpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port);

        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(Ok, await RawHttp.SendAsync(endpoint, $"GET /item?n={i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        }

        Assert.Equal(Ok, await RawHttp.SendAsync(endpoint, "GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        proxy.Signal("TERM");
        int exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, exitCode);
        Assert.Equal(20, proxy.StdoutLineCount);
        Assert.All(proxy.StdoutLines, line => Assert.Matches(TextLine, line));
        Assert.All(proxy.StdoutLines, line => Assert.EndsWith(" 200 500", line, StringComparison.Ordinal));
        Assert.DoesNotContain(proxy.StdoutLines, line => line.StartsWith("/health", StringComparison.Ordinal));
        // Not only "Listening on" (WaitUntilListeningAsync has already seen that): where, and to which backends.
        Assert.Contains($"Listening on 127.0.0.1:{port}; production {production.EndPoint}, shadow {shadow.EndPoint}", proxy.Stderr, StringComparison.Ordinal);
        Assert.Equal(21, shadow.Requests.Count);   // excluded from the lines, never from the mirror
    }

    [Fact]
    public async Task Json_format_and_log_file_carry_the_same_lines()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        int port = ProxyProcess.FreePort();
        using var directory = new TempDirectory();
        string logFile = directory.File("requests.log");
        await using ProxyProcess proxy = ProxyProcess.Start(
            "--listen", $"127.0.0.1:{port}", "--production", production.EndPoint.ToString(), "--shadow", shadow.EndPoint.ToString(),
            "--format", "json", "--log-file", logFile);
        await proxy.WaitUntilListeningAsync();
        var endpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port);
        for (int i = 0; i < 5; i++)
        {
            await RawHttp.SendAsync(endpoint, $"POST /orders/{i} HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
        }

        proxy.Signal("INT");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(5, proxy.StdoutLineCount);
        foreach (string line in proxy.StdoutLines)
        {
            using JsonDocument json = JsonDocument.Parse(line);
            Assert.Equal("POST", json.RootElement.GetProperty("method").GetString());
            Assert.Equal(200, json.RootElement.GetProperty("shadow_status").GetInt32());
        }

        // Serilog's rolling sink names the day's file after the path given.
        string[] files = Directory.GetFiles(directory.Path, "requests*.log");
        string written = File.ReadAllText(Assert.Single(files));
        Assert.Equal(proxy.StdoutLines.Order(), written.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
    }

    [Fact]
    public async Task Settings_file_fills_options_and_the_command_line_wins()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        int port = ProxyProcess.FreePort();
        using var directory = new TempDirectory();
        string settings = directory.File("settings.json");
        await File.WriteAllTextAsync(settings, $$"""
            { "ShadowProxy": { "Listen": "127.0.0.1:1", "Production": "{{production.EndPoint}}", "Shadow": "{{shadow.EndPoint}}", "Format": "json" } }
            """);
        await using ProxyProcess proxy = ProxyProcess.Start("--config", settings, "--listen", $"127.0.0.1:{port}", "--format", "text");
        await proxy.WaitUntilListeningAsync();
        await RawHttp.SendAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port), "GET /s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        proxy.Signal("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        Assert.Matches(TextLine, Assert.Single(proxy.StdoutLines));
        Assert.Single(production.Requests);
    }

    [Fact]
    public async Task A_taken_listen_port_fails_start_up_with_one_line()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;

        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(
            "--listen", $"127.0.0.1:{port}", "--shadow", "127.0.0.1:9", "--shadow-methods", "GET");   // no warning about writes

        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        // Not followed by the host's "Hosting failed to start" and the exception's stack.
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"ShadowProxy: cannot listen on 127.0.0.1:{port}: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_log_file_that_cannot_be_written_fails_start_up_with_one_line()
    {
        // The rolling sink opens its file at the first line and reports a failure only to Serilog's SelfLog: without
        // a check at start-up the proxy ran for good with no line ever reaching the file, and said nothing.
        using var directory = new TempDirectory();
        string notADirectory = directory.WriteLines("plain-file", "x");
        string logFile = Path.Combine(notADirectory, "requests.log");

        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(
            "--listen", "127.0.0.1:0", "--shadow", "127.0.0.1:9", "--log-file", logFile);

        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"ShadowProxy: cannot write --log-file '{logFile}': ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_proxy_on_the_same_port_fails_instead_of_sharing_it()
    {
        await using var first = await TestProxy.StartAsync(TestProxy.ClosedPort(), TestProxy.ClosedPort());

        (int exitCode, _, string stderr) = await ProxyProcess.RunAsync("--listen", first.EndPoint.ToString(), "--shadow", "127.0.0.1:9");

        Assert.Equal(1, exitCode);
        Assert.Contains($"cannot listen on {first.EndPoint}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_runs_end_to_end_with_no_setup()
    {
        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync("demo");

        Assert.True(exitCode == 0, stderr);
        // stdout is request lines and nothing else, as everywhere: `demo > demo.log` is a log `report` reads whole.
        string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(48, lines.Length);
        Assert.All(lines, line => Assert.Matches(TextLine, line));
        Assert.Contains(lines, line => line.StartsWith("/checkout ", StringComparison.Ordinal) && line.EndsWith(" 200 500", StringComparison.Ordinal));
        Assert.StartsWith("ShadowProxy demo: production on 127.0.0.1:", stderr, StringComparison.Ordinal);
        Assert.Contains("Summary of 48 requests", stderr, StringComparison.Ordinal);
        Assert.Contains("status mismatches: 12 of 48 (/checkout x8, /api/users/7 x4)\n", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_with_stdout_closed_still_prints_its_summary_and_exits_0()
    {
        // Its request lines went to Console's stream, which throws UnauthorizedAccessException on a closed descriptor:
        // the demo ended in an unhandled exception and a stack trace instead of its summary.
        (int exitCode, string stderr) = await ProxyProcess.RunWithStdoutClosedAsync("demo");

        Assert.True(exitCode == 0, stderr);
        Assert.DoesNotContain("Unhandled exception", stderr, StringComparison.Ordinal);
        Assert.Contains("status mismatches: 12 of 48 (/checkout x8, /api/users/7 x4)\n", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("--version")]
    [InlineData("report --help")]
    public async Task Help_or_version_with_stdout_closed_is_one_line_on_stderr_and_exit_1(string arguments)
    {
        // System.CommandLine wrote them straight to Console's stream: an unhandled exception and its stack trace.
        (int exitCode, string stderr) = await ProxyProcess.RunWithStdoutClosedAsync(arguments.Split(' '));

        Assert.Equal(1, exitCode);
        Assert.Equal("ShadowProxy: cannot write to stdout: Bad file descriptor\n", stderr);
    }

    [Fact]
    public async Task Stdout_and_stderr_into_one_file_keep_every_line_whole()
    {
        // `ShadowProxy ... > FILE 2>&1`: one open file description, no O_APPEND. Both streams must write at the file's
        // shared offset; a writer keeping a position of its own would overwrite the other's lines.
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        using var directory = new TempDirectory();
        string file = Path.Combine(directory.Path, "out.log");
        await using (ProxyProcess proxy = await ProxyProcess.StartIntoFileAsync(production.EndPoint, shadow.EndPoint, file))
        {
            for (int i = 0; i < 5; i++)
            {
                Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, $"GET /item?n={i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
            }

            await proxy.SignalAsync("TERM");
            Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }

        string[] lines = File.ReadAllLines(file);
        Assert.Contains(lines, line => line.Contains("Listening on", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("Stopped", StringComparison.Ordinal));
        string[] requestLines = [.. lines.Where(line => line.StartsWith("/item", StringComparison.Ordinal))];
        Assert.Equal(5, requestLines.Length);
        Assert.All(requestLines, line => Assert.Matches(TextLine, line));
        Assert.DoesNotContain('\0', File.ReadAllText(file));   // no hole left by a write past another's end
    }
}
