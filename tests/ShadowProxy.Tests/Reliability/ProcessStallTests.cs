using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>The built program when the reader of its stderr or its stdout stops reading: proxying goes on.</summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessStallTests
{
    [Fact]
    public async Task A_stderr_nobody_reads_stops_neither_the_proxy_nor_its_request_lines_nor_its_exit()
    {
        // Production refuses: every request is a 502 and a warning on stderr (~150 bytes), so 2,000 requests write
        // far more than the pipe holds. The proxy's work runs on one event thread; a diagnostic written there and
        // waiting on the full pipe would stop every connection.
        int refusing = ProxyProcess.FreePort();
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await ProxyProcess.StartWithStderrUnreadAsync(new(System.Net.IPAddress.Loopback, refusing), shadow.EndPoint);

        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 2_000; i++)
        {
            string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET /stalled/{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .WaitAsync(TimeSpan.FromSeconds(10));
            Assert.StartsWith("HTTP/1.1 502 ", response, StringComparison.Ordinal);
        }

        Assert.False(proxy.HasExited);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), $"2,000 answers took {watch.Elapsed}");
        // The request lines are not held up either.
        var lines = Stopwatch.StartNew();
        while (proxy.StdoutLineCount < 2_000 && lines.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50);
        }

        Assert.Equal(2_000, proxy.StdoutLineCount);

        // And it still stops when told: the diagnostics still queued are given a bounded time, not forever.
        await proxy.SignalAsync("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_stdout_nobody_reads_holds_back_neither_the_answers_nor_the_log_files_lines()
    {
        // 200 lines of some 2 KiB each: six times what the stdout pipe holds, so its writes wait for good part-way.
        const int Requests = 200;
        string padding = new('p', 2000);
        await using var production = LoopbackBackend.Start(FaultyBackends.ProductionOk);
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        using var logDirectory = new TempDirectory();
        await using var proxy = await ProxyProcess.StartWithStdoutUnreadAsync(production.EndPoint, shadow.EndPoint, "--log-file", logDirectory.File("lines.log"));
        for (int i = 0; i < Requests; i++)
        {
            string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET /unread/{i}?{padding} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(FaultyBackends.ProductionOk, response);
        }

        // The file sink writes its buffer out once a second: give it a few.
        string[] logged = [];
        var waited = Stopwatch.StartNew();
        while (logged.Length < Requests && waited.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(100);
            logged = Directory.GetFiles(logDirectory.Path, "lines*.log") is [string file] ? ReadShared(file) : [];
        }

        Assert.True(logged.Length == Requests, $"--log-file got {logged.Length} of {Requests} lines while stdout was not read; stderr: {proxy.Stderr}");
        // Each request's line once. Not in request order: a line is written when its shadow is done too, which can
        // come after the next request's.
        var numbers = new List<int>(Requests);
        foreach (string line in logged)
        {
            Match match = Regex.Match(line, @"^/unread/(\d+)\?p{2000} \d+\.\d{3} \d+\.\d{3} -?\d+\.\d{3} 200 201$");
            Assert.True(match.Success, $"not a line of this test's requests: {line}");
            numbers.Add(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
        }

        numbers.Sort();
        Assert.Equal(Enumerable.Range(0, Requests), numbers);

        Assert.DoesNotContain("dropped", proxy.Stderr, StringComparison.Ordinal);
        Assert.False(proxy.HasExited);
    }

    /// <summary>The file's complete lines, read while the proxy still has it open.</summary>
    private static string[] ReadShared(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n')[..^1];
    }
}
