using System.Diagnostics;
using System.Globalization;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// Minutes of mixed load with every fault, on the built program, reporting RSS, descriptors, threads and line counts
/// at the start, as it goes, and at the end (to the file in SHADOWPROXY_SOAK_REPORT). The same bounds as the leak test.
/// </summary>
[Collection(RealProcess.Collection)]
public sealed class SoakTests
{
    public const string SecondsVariable = "SHADOWPROXY_SOAK_SECONDS";
    public const string ReportVariable = "SHADOWPROXY_SOAK_REPORT";

    [SoakFact]
    public async Task Minutes_of_mixed_load_with_faults_leak_nothing_and_lose_no_line()
    {
        var duration = TimeSpan.FromSeconds(double.Parse(Environment.GetEnvironmentVariable(SecondsVariable)!, CultureInfo.InvariantCulture));
        using var report = new StreamWriter(Environment.GetEnvironmentVariable(ReportVariable) ?? Path.Combine(Path.GetTempPath(), "shadowproxy-soak.txt")) { AutoFlush = true };
        await using var backends = new FaultyBackends();
        backends.Production.KeepsRequests = backends.Shadow.KeepsRequests = false;   // nothing here reads them
        await using var proxy = await ProxyProcess.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, "--shadow-timeout", "1", "--client-timeout", "5");
        proxy.KeepStdoutLines = false;   // counted, not kept: nothing here reads them
        proxy.KeepStderrLine = static line => line.Contains("dropped", StringComparison.Ordinal);   // what the checks below look for
        int idleSockets = proxy.OpenSockets();
        report.WriteLine($"soak: {duration.TotalSeconds:F0} s of mixed load (16 keep-alive clients; 1 request in 20 with each backend fault; client faults alongside), proxy pid {proxy.Pid}");

        await MixedLoad.RunAsync(proxy, requests: 600, clientFaults: 12);
        long expectedLines = 600 + 8;
        ResourceFigures start = await MixedLoad.SettledAsync(proxy, (int)expectedLines, idleSockets);
        report.WriteLine($"start (after a 600-request warm-up): {start}; lines {proxy.StdoutLineCount}");
        var watch = Stopwatch.StartNew();
        long requests = 0, failures = 0;
        var statuses = new SortedDictionary<int, long>();
        for (int round = 1; watch.Elapsed < duration; round++)
        {
            LoadClient load = await MixedLoad.RunAsync(proxy, requests: 5_000, clientFaults: 51);
            requests += load.Responses;
            failures += load.Failures;
            expectedLines += 5_000 + 34;
            foreach ((int status, int count) in load.Statuses)
            {
                statuses[status] = statuses.GetValueOrDefault(status) + count;
            }

            (int threads, long residentKb) = proxy.Status();
            report.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{watch.Elapsed.TotalSeconds,6:F0} s: {requests} requests ({requests / watch.Elapsed.TotalSeconds:F0}/s), {proxy.StdoutLineCount} lines, {proxy.OpenDescriptors()} fds ({proxy.OpenSockets()} sockets), {threads} threads, {residentKb / 1024} MB RSS"));
        }

        ResourceFigures end = await MixedLoad.SettledAsync(proxy, (int)expectedLines, idleSockets);
        report.WriteLine($"end (settled): {end}; lines {proxy.StdoutLineCount} of {expectedLines} expected; responses {requests}, failed {failures}; statuses {string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}"))}");
        report.WriteLine($"dropped lines reported on stderr: {(proxy.Stderr.Contains("dropped", StringComparison.Ordinal) ? "YES" : "none")}");

        Assert.Equal(0, failures);
        Assert.Equal(expectedLines, proxy.StdoutLineCount);
        Assert.True(end.Sockets <= start.Sockets, $"sockets: start {start}, end {end}");
        Assert.True(end.Descriptors <= start.Descriptors + 8, $"descriptors: start {start}, end {end}");
        Assert.True(end.Threads <= start.Threads + 16, $"threads: start {start}, end {end}");
        Assert.True(end.ResidentKb <= (start.ResidentKb * 3 / 2) + (48 * 1024), $"resident memory: start {start}, end {end}");
        Assert.DoesNotContain("dropped", proxy.Stderr, StringComparison.Ordinal);
    }
}
