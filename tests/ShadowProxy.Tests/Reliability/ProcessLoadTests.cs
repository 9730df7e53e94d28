using System.Diagnostics;
using ShadowProxy.Tests.Infrastructure;
using Xunit.Abstractions;

namespace ShadowProxy.Tests.Reliability;

/// <summary>The built program as a real process, under load with faults mixed in: nothing leaked, no line lost.</summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessLoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ten_thousand_requests_with_faults_leave_descriptors_threads_and_memory_near_their_start()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await ProxyProcess.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, "--shadow-timeout", "1", "--client-timeout", "5");

        // Warm up first (JIT, pools, the socket engine's threads): the starting level is that of a proxy that has served.
        int idleSockets = proxy.OpenSockets();
        await MixedLoad.RunAsync(proxy, requests: 600, clientFaults: 12);
        ResourceFigures start = await MixedLoad.SettledAsync(proxy, expectedLines: 600 + 8, idleSockets);
        var watch = Stopwatch.StartNew();
        LoadClient load = await MixedLoad.RunAsync(proxy, requests: 10_000, clientFaults: 150);
        TimeSpan loadTime = watch.Elapsed;
        ResourceFigures end = await MixedLoad.SettledAsync(proxy, expectedLines: 600 + 8 + 10_000 + 100, idleSockets);
        output.WriteLine($"10,000 requests in {loadTime.TotalSeconds:F1} s; start {start}; end {end}; statuses {string.Join(", ", load.Statuses.OrderBy(s => s.Key))}");

        Assert.Equal(0, load.Failures);
        Assert.Equal(10_000, load.Responses);
        Assert.Equal(10_000 - (10_000 / 20 * 4), load.Statuses[200]);
        Assert.Equal(10_000 / 20 * 3, load.Statuses[502]);
        Assert.Equal(10_000 / 20, load.Statuses[413]);
        // Sockets exactly back; other descriptors may grow by an assembly loaded late (the runtime keeps each one open).
        Assert.True(end.Sockets <= start.Sockets, $"sockets: start {start}, end {end}; open now: {proxy.DescribeDescriptors()}");
        Assert.True(end.Descriptors <= start.Descriptors + 8, $"descriptors: start {start}, end {end}; open now: {proxy.DescribeDescriptors()}");
        Assert.True(end.Threads <= start.Threads + 16, $"threads: start {start}, end {end}");
        Assert.True(end.ResidentKb <= (start.ResidentKb * 3 / 2) + (48 * 1024), $"resident memory: start {start}, end {end}");
        Assert.DoesNotContain("dropped", proxy.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unexpected error", proxy.Stderr, StringComparison.Ordinal);

        // Still serving.
        string response = await RawHttp.SendAsync(proxy.EndPoint, "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK", response, StringComparison.Ordinal);
    }

    /// <summary>
    /// deploy/README.md tells a busy site to add loops (SHADOWPROXY_IO_THREADS): more loops than this box has cores, so
    /// that connections accepted by different loops, their backends and the shared timer sweep and line writer really
    /// run side by side, besides the loop the shadow copies are handed to across threads. And SHADOWPROXY_SHADOW_LOOP=off
    /// keeps every copy on its client's loop.
    /// </summary>
    [Theory]
    [InlineData("SHADOWPROXY_IO_THREADS", "3", 4)]   // and the shadow's loop
    [InlineData("SHADOWPROXY_SHADOW_LOOP", "off", 1)]
    public async Task With_more_event_loops_faults_and_concurrent_clients_lose_no_response_no_line_and_no_socket(
        string variable, string value, int expectedLoops)
    {
        var environment = new Dictionary<string, string> { [variable] = value };
        await using var backends = new FaultyBackends();
        await using var proxy = await ProxyProcess.StartAsync(
            environment, backends.Production.EndPoint, backends.Shadow.EndPoint, "--shadow-timeout", "1", "--client-timeout", "5");
        int idleSockets = proxy.OpenSockets();

        LoadClient load = await MixedLoad.RunAsync(proxy, requests: 6_000, clientFaults: 90);
        ResourceFigures end = await MixedLoad.SettledAsync(proxy, expectedLines: 6_000 + 60, idleSockets);
        int ioThreads = proxy.ThreadNames().Count(name => name.StartsWith("ShadowProxy I/O", StringComparison.Ordinal));
        output.WriteLine($"6,000 requests on {ioThreads} loops; end {end}; statuses {string.Join(", ", load.Statuses.OrderBy(s => s.Key))}");

        Assert.Equal(expectedLoops, ioThreads);
        // Every loop did work: the three share the clients, and the shadow's own loop ran shadow copies.
        IReadOnlyDictionary<int, long> afterFaults = proxy.ThreadCpuTicks("ShadowProxy I/O");
        Assert.All(afterFaults.Values, ticks => Assert.True(ticks > 0, "an event loop that never ran"));
        Assert.Equal(0, load.Failures);
        Assert.Equal(6_000, load.Responses);
        Assert.Equal(6_000 - (6_000 / 20 * 4), load.Statuses[200]);
        Assert.Equal(6_000 / 20 * 3, load.Statuses[502]);
        Assert.Equal(6_000 / 20, load.Statuses[413]);
        Assert.True(end.Sockets <= idleSockets, $"sockets: idle {idleSockets}, end {end}; open now: {proxy.DescribeDescriptors()}");
        Assert.DoesNotContain("dropped", proxy.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unexpected error", proxy.Stderr, StringComparison.Ordinal);

        // And every loop still takes work after the faults. The shadow's loop takes at most 64 copies at once: a failed
        // copy that kept its place there would, some failures on, leave the loop idle and every copy on the clients'.
        LoadClient more = await MixedLoad.RunAsync(proxy, requests: 2_000, clientFaults: 0);
        await MixedLoad.SettledAsync(proxy, expectedLines: 6_000 + 60 + 2_000, idleSockets);
        IReadOnlyDictionary<int, long> later = proxy.ThreadCpuTicks("ShadowProxy I/O");
        Assert.Equal(2_000, more.Responses);
        Assert.All(afterFaults, loop => Assert.True(later[loop.Key] > loop.Value, $"loop thread {loop.Key} did nothing after the faults ({loop.Value} ticks)"));
    }

    [Fact]
    public async Task Under_64_concurrent_clients_every_response_gets_exactly_one_line_and_none_is_dropped()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await ProxyProcess.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);
        var load = new LoadClient();
        var until = Stopwatch.StartNew();

        await load.RunAsync(proxy.EndPoint, clients: 64, i => until.Elapsed < TimeSpan.FromSeconds(4)
            ? $"GET /load/{i}?n={i} HTTP/1.1\r\nHost: h\r\n\r\n"
            : null);
        await proxy.SignalAsync("TERM");
        int exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"{load.Responses} responses, {proxy.StdoutLineCount} lines");

        Assert.True(exitCode == 0, $"exit code {exitCode}; stderr: {proxy.Stderr}");
        Assert.Equal(0, load.Failures);
        Assert.True(load.Responses > 64, "the load should have run");
        Assert.Equal(load.Responses, proxy.StdoutLineCount);
        Assert.Equal(load.Responses, proxy.StdoutLines.Select(line => line.Split(' ')[0]).Distinct(StringComparer.Ordinal).Count());
        Assert.All(proxy.StdoutLines, line => Assert.Matches(@"^/load/\d+\?n=\d+ \d+\.\d{3} \d+\.\d{3} -?\d+\.\d{3} 200 201$", line));
        Assert.DoesNotContain("dropped", proxy.Stderr, StringComparison.Ordinal);
    }
}
