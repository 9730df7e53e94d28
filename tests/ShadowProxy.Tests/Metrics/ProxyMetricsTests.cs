using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using ShadowProxy.Logging;
using ShadowProxy.Metrics;
using ShadowProxy.Mirroring;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Metrics;

/// <summary>The "ShadowProxy" meter as a listener (dotnet-counters, Prometheus) sees it, and the live outputs of the program.</summary>
public sealed partial class ProxyMetricsTests
{
    private const string Ok = FaultyBackends.ProductionOk;
    private const string Oops = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    [Fact]
    public async Task Requests_status_pairs_diffs_skips_and_durations_reach_a_listener_without_allocating_per_request()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Oops);
        var methods = new HashSet<string>(["GET"], StringComparer.Ordinal);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { Mirror = new MirrorPolicySource(new MirrorPolicy { Methods = methods }) });
        await RawHttp.SendAsync(proxy.EndPoint, "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await RawHttp.SendAsync(proxy.EndPoint, "DELETE /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await proxy.StopAsync();
        RequestRecord mirrored = proxy.Records.Single(record => record.Method == "GET");
        RequestRecord skipped = proxy.Records.Single(record => record.Method == "DELETE");

        using var metrics = new ProxyMetrics();
        var seen = new Dictionary<string, long>();
        int histogramRecords = 0;
        bool onlyCount = false;   // while measuring allocations, the listener itself must not allocate
        long measurements = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == metrics.Meter)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (onlyCount)
            {
                measurements++;
                return;
            }

            string key = instrument.Name;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                key += $" {tag.Key}={tag.Value}";
            }

            seen[key] = seen.GetValueOrDefault(key) + value;
        });
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => histogramRecords++);
        listener.Start();

        metrics.Record(mirrored);
        metrics.Record(skipped);

        Assert.Equal(1, seen["shadowproxy.requests production_status=200 shadow_status=500"]);
        Assert.Equal(1, seen["shadowproxy.requests production_status=200 shadow_status=none"]);
        Assert.Equal(1, seen["shadowproxy.diffs diff=status"]);
        Assert.Equal(1, seen["shadowproxy.diffs diff=skipped"]);
        Assert.Equal(1, seen["shadowproxy.skips reason=method_filtered"]);
        Assert.Equal(3, histogramRecords);   // production twice, the shadow once

        onlyCount = true;
        // Two measured runs, the smaller counts (as in ReportAggregatorTests): the runtime may allocate once on this
        // thread while it tiers the code up, some 6 KB; a per-request allocation would show in both, as 24 KB or more.
        long allocated = long.MaxValue;
        for (int measured = 0; measured < 2; measured++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                metrics.Record(mirrored);
            }

            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.True(allocated < 1000, $"{allocated} bytes for 1000 requests");
        Assert.Equal(4000, measurements);   // requests and diffs, once per request
    }

    [Fact]
    public async Task A_stats_interval_never_counts_a_requests_skip_or_mismatch_without_the_request()
    {
        // Requests recorded on two threads while a third takes intervals, as the stats tick does. Half are skipped (a
        // skipped request compares as "skipped", not as a mismatch) and half are status mismatches, so in every
        // interval the skips and the mismatches must add up to the requests exactly.
        using var metrics = new ProxyMetrics();
        var answered = new ShadowProxy.Proxy.BackendResult(200, TimeSpan.FromMilliseconds(2), 2, ShadowProxy.Proxy.BackendError.None);
        var failed = new ShadowProxy.Proxy.BackendResult(500, TimeSpan.FromMilliseconds(3), 2, ShadowProxy.Proxy.BackendError.None);
        var skipped = new RequestRecord(DateTimeOffset.UtcNow, "POST", "/s", answered, default) { ShadowSkipped = ShadowSkip.MethodFiltered };
        var mismatched = new RequestRecord(DateTimeOffset.UtcNow, "GET", "/m", answered, failed);
        const int PerThread = 200_000;
        Task[] recorders =
        [
            Task.Run(() => { for (int i = 0; i < PerThread; i++) { metrics.Record(skipped); } }),
            Task.Run(() => { for (int i = 0; i < PerThread; i++) { metrics.Record(mismatched); } }),
        ];
        Task whenRecorded = Task.WhenAll(recorders);

        var intervals = new List<IntervalTotals>();
        while (!whenRecorded.IsCompleted)
        {
            intervals.Add(metrics.TakeInterval());
        }

        await whenRecorded;
        intervals.Add(metrics.TakeInterval());

        Assert.All(intervals, totals => Assert.Equal(totals.Requests, totals.Skips + totals.Mismatches));
        Assert.Equal(2 * PerThread, intervals.Sum(totals => totals.Requests));
        Assert.Equal(PerThread, intervals.Sum(totals => totals.Skips));
        Assert.True(intervals.Count > 10, $"only {intervals.Count} intervals were taken while the requests were recorded");
    }

    [Fact]
    public void The_stats_median_lands_in_the_bucket_of_the_middle_value()
    {
        var buckets = new LatencyBuckets();
        foreach (int milliseconds in new[] { 1, 2, 3, 40, 41, 42, 43, 900, 950, 5000, 6000 })
        {
            buckets.Record(TimeSpan.FromMilliseconds(milliseconds));
        }

        TimeSpan median = Assert.NotNull(buckets.TakeMedian());
        Assert.InRange(median.TotalMilliseconds, 42 * 0.9, 42 * 1.1);
        Assert.Null(buckets.TakeMedian());   // taking it starts a new interval
    }

    [Fact]
    public async Task The_program_serves_prometheus_text_and_prints_stats_lines_that_count_every_request()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Oops);
        int port = ProxyProcess.FreePort();
        int metricsPort = ProxyProcess.FreePort();
        await using ProxyProcess proxy = ProxyProcess.Start(
            "--listen", $"127.0.0.1:{port}", "--production", production.EndPoint.ToString(), "--shadow", shadow.EndPoint.ToString(),
            "--metrics-listen", $"127.0.0.1:{metricsPort}", "--stats-interval", "60", "--shadow-methods", "GET");
        await proxy.WaitUntilListeningAsync();
        var endpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port);
        for (int i = 0; i < 3; i++)
        {
            await RawHttp.SendAsync(endpoint, $"GET /m/{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        }

        await RawHttp.SendAsync(endpoint, "POST /m HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        string scrape = await ScrapeUntilAsync(http, $"http://127.0.0.1:{metricsPort}/metrics", AllCounted());
        proxy.Signal("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        Assert.Matches(AllCounted(), scrape);
        Assert.Matches(@"shadowproxy_diffs_total\{[^}]*diff=""status""[^}]*\} 3", scrape);
        Assert.Matches(@"shadowproxy_skips_total\{[^}]*reason=""method_filtered""[^}]*\} 1", scrape);
        Assert.Contains("shadowproxy_production_duration_seconds_bucket", scrape, StringComparison.Ordinal);
        Assert.Contains("# TYPE shadowproxy_requests_total counter", scrape, StringComparison.Ordinal);
        // The runtime's own meter beside them (a slow box or a slow proxy; allocations per request under load).
        Assert.Matches(@"dotnet_gc_heap_total_allocated_bytes_total\{[^}]*\} [1-9]", scrape);
        Assert.Matches(@"dotnet_process_cpu_time_seconds_total\{[^}]*cpu_mode=""user""[^}]*\} [0-9]", scrape);
        MatchCollection stats = StatsLine().Matches(proxy.Stderr);
        Assert.NotEmpty(stats);
        Assert.Equal(4, stats.Sum(line => int.Parse(line.Groups["requests"].Value, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(3, stats.Sum(line => int.Parse(line.Groups["mismatches"].Value, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(1, stats.Sum(line => int.Parse(line.Groups["skips"].Value, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(4, proxy.StdoutLineCount);   // the metrics endpoint and stats lines never touch stdout
    }

    [Fact]
    public async Task Prometheus_duration_buckets_are_in_seconds_cumulative_and_end_at_the_count()
    {
        int port = ProxyProcess.FreePort();
        using var metrics = new ProxyMetrics();
        using var endpoint = new PrometheusEndpoint(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
        await endpoint.StartAsync(CancellationToken.None);
        foreach (int milliseconds in new[] { 3, 20, 20, 300, 2000 })
        {
            var production = new ShadowProxy.Proxy.BackendResult(200, TimeSpan.FromMilliseconds(milliseconds), 2, ShadowProxy.Proxy.BackendError.None);
            metrics.Record(new RequestRecord(DateTimeOffset.UtcNow, "GET", "/b", production, production));
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        string scrape = await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
        await endpoint.StopAsync(CancellationToken.None);

        var buckets = Bucket().Matches(scrape).Select(match => (Le: match.Groups["le"].Value, Count: long.Parse(match.Groups["count"].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.NotEmpty(buckets);
        for (int i = 1; i < buckets.Count; i++)
        {
            Assert.True(buckets[i].Count >= buckets[i - 1].Count, $"bucket le={buckets[i].Le} went down");
        }

        Assert.Equal("+Inf", buckets[^1].Le);
        Assert.Matches($@"shadowproxy_production_duration_seconds_count\{{[^}}]*\}} {buckets[^1].Count}\n", scrape);
        // A web request takes milliseconds: the bounds must tell 3 ms, 20 ms, 300 ms and 2 s apart, not put them all under 5 s.
        long Below(double seconds) => buckets.Where(bucket => bucket.Le != "+Inf" && double.Parse(bucket.Le, System.Globalization.CultureInfo.InvariantCulture) <= seconds).Select(bucket => bucket.Count).DefaultIfEmpty(0).Max();
        Assert.Equal(1, Below(0.005));
        Assert.Equal(3, Below(0.025));
        Assert.Equal(4, Below(0.5));
        Assert.Equal(5, Below(2.5));
    }

    [Fact]
    public async Task A_taken_metrics_port_fails_start_up_with_one_line_and_exit_1()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;

        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(
            "--listen", $"127.0.0.1:{ProxyProcess.FreePort()}", "--shadow", "127.0.0.1:9", "--metrics-listen", $"127.0.0.1:{port}",
            "--shadow-methods", "GET");   // no warning about writes

        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"ShadowProxy: cannot serve metrics on 127.0.0.1:{port}: ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_on_0_0_0_0_listen_on_every_interface_and_answer_whatever_host_the_scraper_names()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        int port = ProxyProcess.FreePort();
        int metricsPort = ProxyProcess.FreePort();
        await using ProxyProcess proxy = ProxyProcess.Start(
            "--listen", $"127.0.0.1:{port}", "--production", production.EndPoint.ToString(), "--shadow", shadow.EndPoint.ToString(),
            "--metrics-listen", $"0.0.0.0:{metricsPort}", "--shadow-methods", "GET");
        await proxy.WaitUntilListeningAsync();
        await RawHttp.SendAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port), "GET /w HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");

        // The socket is bound to 0.0.0.0 (every IPv4 interface), as /proc/net/tcp lists it.
        string wildcard = $"00000000:{metricsPort:X4} 00000000:0000 0A ";
        Assert.Contains(File.ReadLines("/proc/net/tcp"), line => line.Contains(wildcard, StringComparison.Ordinal));
        // A scraper names the box as it knows it (here "localhost", not the address): the Host header must not matter.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        string scrape;
        do
        {
            scrape = await http.GetStringAsync(new Uri($"http://localhost:{metricsPort}/metrics"), limit.Token);
        }
        while (!OneRequestCounted().IsMatch(scrape));

        proxy.Signal("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_start_that_fails_is_its_one_line_and_no_stats_line_of_a_proxy_that_never_served()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;

        (int exitCode, string stdout, string stderr) = await ProxyProcess.RunAsync(
            "--listen", $"127.0.0.1:{port}", "--shadow", "127.0.0.1:9", "--stats-interval", "10", "--shadow-methods", "GET");

        Assert.Equal(1, exitCode);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"ShadowProxy: cannot listen on 127.0.0.1:{port}: ", line, StringComparison.Ordinal);
    }

    /// <summary>The line writer counts a request just after its client has been answered: scrape until the last one is in (bounded).</summary>
    private static async Task<string> ScrapeUntilAsync(HttpClient http, string url, Regex expected)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            string text = await http.GetStringAsync(new Uri(url), limit.Token);
            if (expected.IsMatch(text) && text.Contains("shadowproxy_skips_total", StringComparison.Ordinal))
            {
                return text;
            }

            await Task.Yield();
        }
    }

    [GeneratedRegex(@"shadowproxy_requests_total\{[^}]*production_status=""200""[^}]*shadow_status=""500""[^}]*\} 3")]
    private static partial Regex AllCounted();

    [GeneratedRegex(@"shadowproxy_requests_total\{[^}]*production_status=""200""[^}]*shadow_status=""200""[^}]*\} 1")]
    private static partial Regex OneRequestCounted();

    [GeneratedRegex(@"shadowproxy_production_duration_seconds_bucket\{[^}]*le=""(?<le>[^""]+)""\} (?<count>\d+)")]
    private static partial Regex Bucket();

    [GeneratedRegex(@"stats: [\d.]+ req/s, (?<requests>\d+) requests, (?<mismatches>\d+) mismatches, \d+ shadow errors, (?<skips>\d+) skipped; p50 production (\d+\.\d{3}|-) s, shadow (\d+\.\d{3}|-) s")]
    private static partial Regex StatsLine();
}
