using System.Text;
using ShadowProxy.Reporting;

namespace ShadowProxy.Tests.Reporting;

public class ReportAggregatorTests
{
    [Fact]
    public void Matrix_counts_each_status_pair_with_dash_for_none()
    {
        ReportSummary summary = Summarise(
            "/a 0.010 0.010 0.000 200 200",
            "/a 0.010 0.010 0.000 200 200",
            "/b 0.010 0.010 0.000 200 500",
            "/c 0.010 - - 200 -",
            """{"url":"/d","production_status":404,"shadow_status":404}""",
            """{"url":"/e","production_status":null,"shadow_status":200,"production_error":"refused"}""");

        Assert.Equal(
            [new StatusPair(200, 200, 2), new StatusPair(0, 200, 1), new StatusPair(200, 0, 1), new StatusPair(200, 500, 1), new StatusPair(404, 404, 1)],
            summary.Matrix.Pairs);
        Assert.Equal([200, 404, 0], summary.Matrix.Rows);
        Assert.Equal([200, 404, 500, 0], summary.Matrix.Columns);
        Assert.Equal((2L, 0L, 4L), (summary.Matrix.Count(200, 200), summary.Matrix.Count(404, 200), summary.Matrix.RowTotal(200)));
        Assert.Equal((4, 2), (summary.Aggregate.TextLines, summary.Aggregate.JsonLines));
    }

    [Fact]
    public void Shadow_failures_count_only_where_production_succeeded_and_skips_are_not_failures()
    {
        ReportSummary summary = Summarise(
            "/pay?id=1 0.010 0.010 0.000 200 500",
            "/pay?id=2 0.010 - - 302 -",
            "/pay 0.010 0.010 0.000 200 301",
            "/list 0.010 0.010 0.000 200 404",
            "/broken 0.010 0.010 0.000 500 500",
            """{"url":"/sampled","production_status":200,"shadow_status":null,"shadow_skipped":"sampled_out"}""");

        Assert.Equal((3L, 1L), (summary.Aggregate.ShadowFailed, summary.Aggregate.ShadowSkipped));
        Assert.Equal([new PathCount("/pay", 2), new PathCount("/list", 1)], summary.TopShadowFailed);
    }

    [Fact]
    public void Body_mismatches_come_from_json_and_are_ranked_by_path()
    {
        ReportSummary summary = Summarise(
            """{"url":"/cart?u=1","body_match":false}""",
            """{"url":"/cart?u=2","diff":"body"}""",
            """{"url":"/cart","body_match":true}""",
            """{"url":"/user","diff":"body"}""",
            """{"url":"/user","diff":"status"}""",
            "/text 0.010 0.010 0.000 200 200");

        Assert.Equal((4L, 3L), (summary.Aggregate.BodyCompared, summary.Aggregate.BodyMismatches));
        Assert.Equal([new PathCount("/cart", 2), new PathCount("/user", 1)], summary.TopBodyMismatches);
    }

    [Fact]
    public void Body_mismatches_count_only_lines_whose_statuses_are_the_same()
    {
        // What the proxy writes for a shadow that answers 500 where production said 200: both bodies were read whole
        // and differ, so body_match is false, but the diff word is "status". That line is in the matrix and among the
        // shadow's failures already; as a body mismatch too it would bury the same-status differences the table is for.
        ReportSummary summary = Summarise(
            """{"url":"/checkout","production_status":200,"shadow_status":500,"status_match":false,"body_match":false,"diff":"status"}""",
            """{"url":"/cart","production_status":200,"shadow_status":200,"status_match":true,"body_match":false,"diff":"body"}""",
            """{"url":"/cart","production_status":200,"shadow_status":200,"status_match":true,"body_match":true,"diff":"same"}""");

        Assert.Equal((2L, 1L), (summary.Aggregate.BodyCompared, summary.Aggregate.BodyMismatches));
        Assert.Equal([new PathCount("/cart", 1)], summary.TopBodyMismatches);
    }

    [Fact]
    public void A_body_of_a_failed_side_or_one_the_line_says_was_not_compared_is_not_counted()
    {
        // A shadow that answered whole and was then given up (an overflow of the client's body) keeps what it read, so
        // its line can carry body_match false with diff "shadow_error"; and body_match null with diff "same" says the
        // statuses matched but the bodies were not compared (not read whole). Neither is a compared body.
        ReportSummary summary = Summarise(
            """{"url":"/upload","production_status":200,"shadow_status":200,"status_match":true,"body_match":false,"diff":"shadow_error","shadow_error":"overflow"}""",
            """{"url":"/big","production_status":200,"shadow_status":200,"status_match":true,"body_match":null,"diff":"same"}""",
            """{"url":"/cart","production_status":200,"shadow_status":200,"status_match":true,"body_match":false,"diff":"body"}""");

        Assert.Equal((1L, 1L), (summary.Aggregate.BodyCompared, summary.Aggregate.BodyMismatches));
        Assert.Equal([new PathCount("/cart", 1)], summary.TopBodyMismatches);
    }

    [Fact]
    public void Percentiles_of_known_times_and_the_slower_paths_by_median_delta()
    {
        var lines = new List<string>();
        for (int i = 1; i <= 100; i++)
        {
            // /slow: shadow takes twice as long; /same: equal; /rare: much slower but only 2 requests.
            lines.Add($"/slow?n={i} {Seconds(i)} {Seconds(2 * i)} {Seconds(i)} 200 200");
            lines.Add($"/same {Seconds(i)} {Seconds(i)} 0.000 200 200");
        }

        lines.Add("/rare 0.001 1.001 1.000 200 200");
        lines.Add("/rare 0.001 1.001 1.000 200 200");
        ReportSummary summary = Summarise([.. lines]);

        Assert.Equal(new LatencySummary(202, 50, 95, 99, 100), summary.Production);
        Assert.Equal(new LatencySummary(202, 68, 184, 200, 1001), summary.Shadow);
        PathLatency slow = Assert.Single(summary.SlowerPaths);
        Assert.Equal(("/slow", 100L, 50L), (slow.Path, slow.Delta.Count, slow.Delta.P50!.Value));
        Assert.InRange(slow.Delta.P95!.Value, 92, 95);   // per-path histograms are coarse above 32 ms: 95 is in the bucket 92..95
        Assert.Equal(["/same", "/slow", "/rare"], summary.BusiestPaths.Select(path => path.Path).Take(3));
    }

    [Fact]
    public void Delta_histogram_has_round_bins_that_hold_every_request()
    {
        var lines = Enumerable.Range(-50, 200).Select(delta => $"/a 0.100 {Seconds(100 + delta)} {Seconds(delta)} 200 200").ToList();
        lines.Add("/a 0.100 9.100 9.000 200 200");   // an outlier beyond p99
        ReportSummary summary = Summarise([.. lines]);

        Assert.Equal(201, summary.DeltaHistogram.Sum(bin => bin.Count));
        Assert.All(summary.DeltaHistogram.Where(bin => bin.To != long.MaxValue && bin.From != long.MinValue), bin => Assert.Equal(10, bin.To - bin.From));
        Assert.Contains(summary.DeltaHistogram, bin => bin.From == 0);
        Assert.Equal(long.MaxValue, summary.DeltaHistogram[^1].To);
    }

    [Theory]
    [InlineData("0.100 0.401 0.301", 301)]    // above 256 ms the histogram's buckets are 2 ms wide: 300..301
    [InlineData("0.401 0.100 -0.301", -301)]
    public void Delta_histogram_puts_a_single_coarse_value_in_its_own_bin_not_in_a_tail(string times, long delta)
    {
        ReportSummary summary = Summarise($"/a {times} 200 200");

        HistogramBin bin = Assert.Single(summary.DeltaHistogram);
        Assert.Equal(new HistogramBin(delta, delta + 1, 1), bin);
    }

    [Fact]
    public void Malformed_lines_are_counted_with_the_first_examples()
    {
        var aggregate = new ReportAggregator();
        for (int i = 1; i <= 5; i++)
        {
            aggregate.AddMalformed("x.log", i, Encoding.UTF8.GetBytes($"garbage {i}"));
        }

        Assert.Equal(5, aggregate.MalformedLines);
        Assert.Equal(["x.log:1: garbage 1", "x.log:2: garbage 2", "x.log:3: garbage 3"], aggregate.MalformedExampleLines);
    }

    [Fact]
    public void Malformed_examples_show_control_characters_as_question_marks()
    {
        var aggregate = new ReportAggregator();

        aggregate.AddMalformed("bin.log", 1, "a\u001b[2Jb\u0000c"u8);

        Assert.Equal("bin.log:1: a?[2Jb?c", Assert.Single(aggregate.MalformedExampleLines));
    }

    [Fact]
    public void Text_report_shows_control_characters_in_paths_as_question_marks()
    {
        // The proxy never logs such a URL (a request-target is visible ASCII), but a json line can carry one escaped.
        ReportSummary summary = Summarise(
            """{"url":"/a\u001b[2J\u001b]0;owned\u0007b\nc","production_status":200,"shadow_status":500}""",
            """{"url":"/a\u001b[2J\u001b]0;owned\u0007b\nc","production_status":200,"shadow_status":200,"body_match":false}""");
        var output = new StringWriter();

        TextReportRenderer.Write(summary, output);

        string report = output.ToString();
        Assert.False(report.Any(c => char.IsControl(c) && c is not '\n' and not '\r'), report);
        Assert.Equal(3, report.Split("/a?[2J?]0;owned?b?c").Length - 1);   // shadow failed, body mismatches, busiest paths
    }

    [Fact]
    public void Aggregating_known_paths_allocates_nothing_per_line()
    {
        byte[][] lines =
        [
            "/products?id=7 0.012 0.015 0.003 200 500"u8.ToArray(),
            """{"url":"/search?q=\u0041","production_status":200,"shadow_status":200,"production_time":0.020,"shadow_time":0.031,"delta":0.011,"diff":"same"}"""u8.ToArray(),
            "garbage"u8.ToArray(),
        ];
        var aggregate = new ReportAggregator();
        var scratch = new byte[1024];
        void Run(int times)
        {
            for (int i = 0; i < times; i++)
            {
                foreach (byte[] line in lines)
                {
                    if (ReportLineParser.TryParse(line, scratch, out ReportEntry entry))
                    {
                        aggregate.Add(entry);
                    }
                }
            }
        }

        Run(10);   // first sight of each path allocates its string and histogram buckets
        // Two measured runs, the smaller counts: the runtime may allocate once on this thread while it tiers the code
        // up (seen: ~6 KB in one run of a full suite); a per-line allocation would show in both, as 30 KB or more.
        long allocated = long.MaxValue;
        for (int measured = 0; measured < 2; measured++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Run(10_000);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.InRange(allocated, 0, 4096);
        Assert.Equal(40_020, aggregate.Requests);
    }

    internal static ReportSummary Summarise(params string[] lines)
    {
        var aggregate = new ReportAggregator();
        foreach (string line in lines)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(line);
            Assert.True(ReportLineParser.TryParse(bytes, new byte[bytes.Length], out ReportEntry entry), line);
            aggregate.Add(entry);
        }

        return new ReportSummary(aggregate, ["test"], top: 10, minRequests: 5);
    }

    private static string Seconds(long milliseconds) => ReportFormat.Seconds(milliseconds);
}
