using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using ShadowProxy.Hosting;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>SIGTERM (or SIGHUP) on the built program with a request in flight: it finishes, its line is flushed, exit 0; a second signal ends it at once.</summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessShutdownTests
{
    [Theory]
    [InlineData("TERM")]
    [InlineData("HUP")]   // a closing terminal or ssh session: its default, death at once, cut the request and lost its line
    public async Task A_signal_lets_the_request_in_flight_finish_flushes_its_line_to_stdout_and_the_log_file_and_exits_0(string signal)
    {
        (LoopbackBackend heldProduction, TaskCompletionSource received, TaskCompletionSource release) = StartProductionHoldingItsAnswer();
        await using var production = heldProduction;
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        using var logDirectory = new TempDirectory();
        await using var proxy = await ProxyProcess.StartAsync(
            production.EndPoint, shadow.EndPoint, "--log-file", logDirectory.File("lines.log"), "--drain-timeout", "60");
        Task<string> response = RawHttp.SendAsync(proxy.EndPoint, "GET /in-flight?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
        await received.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await proxy.SignalAsync(signal);
        await proxy.WaitForStderrAsync("Stopping");
        SocketException refused = await Assert.ThrowsAsync<SocketException>(() => RawHttp.SendAsync(proxy.EndPoint, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        Assert.False(proxy.HasExited, "the process must wait for the request in flight");
        release.SetResult();
        int exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.Equal(FaultyBackends.ProductionOk, await response);
        Assert.Equal(0, exitCode);
        string line = Assert.Single(proxy.StdoutLines);
        Assert.Matches(@"^/in-flight\?x=1 \d+\.\d{3} \d+\.\d{3} -?\d+\.\d{3} 200 201$", line);
        string logFile = Assert.Single(Directory.GetFiles(logDirectory.Path, "lines*.log"));
        Assert.Equal([line], await File.ReadAllLinesAsync(logFile));
    }

    [Fact]
    public async Task The_same_signal_delivered_twice_at_once_as_timeout_sends_it_is_one_signal_and_drains()
    {
        // GNU timeout sends its SIGTERM to the program and then to its process group: two at once. Taken for an
        // operator's second signal, it exited at once and the request in flight lost its answer and its line.
        (LoopbackBackend heldProduction, TaskCompletionSource received, TaskCompletionSource release) = StartProductionHoldingItsAnswer();
        await using var production = heldProduction;
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await ProxyProcess.StartAsync(production.EndPoint, shadow.EndPoint, "--drain-timeout", "60");
        Task<string> response = RawHttp.SendAsync(proxy.EndPoint, "GET /in-flight HTTP/1.1\r\nHost: h\r\n\r\n");
        await received.Task.WaitAsync(TimeSpan.FromSeconds(30));

        await proxy.SignalTwiceAtOnceAsync("TERM");
        await proxy.WaitForStderrAsync("Stopping");
        await Task.Delay(ShutdownSignals.RepeatWindow * 2);
        Assert.False(proxy.HasExited, "the doubled signal must drain, not exit at once: " + proxy.Stderr);
        release.SetResult();

        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(FaultyBackends.ProductionOk, await response);
        Assert.Matches(@"^/in-flight \d+\.\d{3} \d+\.\d{3} -?\d+\.\d{3} 200 201$", Assert.Single(proxy.StdoutLines));
        Assert.DoesNotContain("exiting at once", proxy.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TERM", 143)]
    [InlineData("INT", 130)]
    public async Task A_second_signal_during_the_drain_exits_at_once(string signal, int expectedExitCode)
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WaitForCloseAsync();   // never answers: the drain would last the whole drain timeout
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await ProxyProcess.StartAsync(production.EndPoint, shadow.EndPoint, "--drain-timeout", "120", "--production-timeout", "120");
        Task<string> response = RawHttp.SendAsync(proxy.EndPoint, "GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n");
        await production.WaitForRequestsAsync(1, TimeSpan.FromSeconds(30));

        await proxy.SignalAsync(signal);
        await proxy.WaitForStderrAsync("Stopping");
        Assert.False(proxy.HasExited, "the first signal drains: the request in flight holds the process");
        var watch = Stopwatch.StartNew();
        await proxy.SignalAgainAsync(signal);
        int exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(expectedExitCode, exitCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"exiting took {watch.Elapsed}; the drain timeout is 120 s");
        Assert.Contains("exiting at once", proxy.Stderr, StringComparison.Ordinal);
        Assert.Empty(await AnswerOrNothingAsync(response));   // cut: no answer
    }

    /// <summary>Production that holds its answer to a request until released: the request stays in flight meanwhile.</summary>
    private static (LoopbackBackend Production, TaskCompletionSource Received, TaskCompletionSource Release) StartProductionHoldingItsAnswer()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        LoopbackBackend production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            received.TrySetResult();
            await release.Task;
            await connection.SendAsync(FaultyBackends.ProductionOk);
        });
        return (production, received, release);
    }

    /// <summary>Production that answers every request but GET /stuck..., which it never answers: the drain waits for it.</summary>
    private static LoopbackBackend StartProductionThatNeverAnswersStuck() => LoopbackBackend.Start(async connection =>
    {
        string? request = await connection.ReadRequestAsync();
        if (request?.StartsWith("GET /stuck", StringComparison.Ordinal) == true)
        {
            await connection.WaitForCloseAsync();
        }
        else
        {
            await connection.SendAsync(FaultyBackends.ProductionOk);
        }
    });

    [Fact]
    public async Task A_second_signal_keeps_the_lines_of_requests_already_answered_in_the_log_file()
    {
        await using var production = StartProductionThatNeverAnswersStuck();
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        using var logDirectory = new TempDirectory();
        await using var proxy = await ProxyProcess.StartAsync(
            production.EndPoint, shadow.EndPoint, "--log-file", logDirectory.File("lines.log"), "--drain-timeout", "120", "--production-timeout", "120");
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(FaultyBackends.ProductionOk, await RawHttp.SendAsync(proxy.EndPoint, $"GET /done?n={i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        }

        Task<string> stuck = RawHttp.SendAsync(proxy.EndPoint, "GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n");
        await production.WaitForRequestsAsync(4, TimeSpan.FromSeconds(30));
        await proxy.SignalAsync("TERM");
        await proxy.WaitForStderrAsync("Stopping");
        await proxy.SignalAgainAsync("TERM");
        int exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30));

        // The request in flight is lost; the three answered before the signal are in both places, as on stdout.
        Assert.Equal(143, exitCode);
        Assert.Empty(await AnswerOrNothingAsync(stuck));
        Assert.Equal(3, proxy.StdoutLineCount);
        string logFile = Assert.Single(Directory.GetFiles(logDirectory.Path, "lines*.log"));
        Assert.Equal(proxy.StdoutLines, await File.ReadAllLinesAsync(logFile));
    }

    [Fact]
    public async Task A_second_signal_exits_143_within_its_flush_bound_though_stdout_is_full_and_nobody_reads_it()
    {
        // A stdout nobody reads (a stuck `| collector`): once its pipe is full, stdout's writer waits for good in its write.
        // The second signal gives the queued lines 500 ms, then exits all the same with --log-file closed: it must wait
        // neither for that write (for ever) nor for the drain (120 s here, held by a request production never answers).
        await using var production = StartProductionThatNeverAnswersStuck();
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        using var logDirectory = new TempDirectory();
        await using var proxy = await ProxyProcess.StartWithStdoutUnreadAsync(
            production.EndPoint, shadow.EndPoint, "--log-file", logDirectory.File("lines.log"), "--drain-timeout", "120", "--production-timeout", "120");
        // 200 lines of some 2 KiB each: six times what the pipe holds.
        const int Answered = 200;
        string padding = new('p', 2000);
        for (int i = 0; i < Answered; i++)
        {
            Assert.Equal(FaultyBackends.ProductionOk, await RawHttp.SendAsync(proxy.EndPoint, $"GET /done/{i}?{padding} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        }

        Task<string> stuck = RawHttp.SendAsync(proxy.EndPoint, "GET /stuck HTTP/1.1\r\nHost: h\r\n\r\n");
        await production.WaitForRequestsAsync(Answered + 1, TimeSpan.FromSeconds(30));
        await proxy.SignalAsync("TERM");
        await proxy.WaitForStderrAsync("Stopping");
        Assert.False(proxy.HasExited, "the first signal drains: the request in flight holds the process");
        var watch = Stopwatch.StartNew();
        await proxy.SignalAgainAsync("TERM");
        int exitCode;
        try
        {
            exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"still running {watch.Elapsed} after the second signal; stderr: {proxy.Stderr}");
            throw;
        }

        TimeSpan exiting = watch.Elapsed;
        string[] stdout = (await proxy.ReadUnreadStdoutAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string logFile = Assert.Single(Directory.GetFiles(logDirectory.Path, "lines*.log"));
        string[] logged = await File.ReadAllLinesAsync(logFile);

        Assert.Equal(143, exitCode);
        Assert.True(exiting < TimeSpan.FromSeconds(10), $"exiting took {exiting}; the lines get 500 ms, the drain timeout is 120 s");
        Assert.Contains("exiting at once", proxy.Stderr, StringComparison.Ordinal);
        Assert.Empty(await AnswerOrNothingAsync(stuck));
        // stdout was full: it holds whole lines, but far from all of them (the rest were still queued behind the write).
        Assert.True(stdout.Length < Answered, $"stdout should have filled up, yet it holds all {stdout.Length} lines");
        Assert.True(stdout.Length > 0, "stdout got no line: the checks of the lines below would hold for none");
        // The file is written apart from stdout, so the stuck write held none of its lines back: it has every answered
        // request's line, once (Close wrote out what the sink still buffered), and every line stdout got, in the same
        // order. Not in request order: a line is written when its shadow is done too, which may come after the next
        // request's.
        var line = new Regex($@"^/done/(\d+)\?p{{2000}} \d+\.\d{{3}} \d+\.\d{{3}} -?\d+\.\d{{3}} 200 201$");
        Assert.All(logged, text => Assert.Matches(line, text));
        int[] done = logged.Select(text => int.Parse(line.Match(text).Groups[1].Value, CultureInfo.InvariantCulture)).Order().ToArray();
        Assert.Equal(Enumerable.Range(0, Answered), done);
        Assert.Equal(stdout, logged[..stdout.Length]);
    }

    private static async Task<string> AnswerOrNothingAsync(Task<string> response)
    {
        try
        {
            return await response;
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }
}
