using System.Text.RegularExpressions;
using ShadowProxy.Reporting;

namespace ShadowProxy.Tests.Reporting;

/// <summary>
/// A shadow copy never sent on purpose (sampling, method filter, overload, body size) against one that was sent and
/// got no answer: both have no shadow status, but only the second is a failure, in the counts and in both renderers.
/// </summary>
public class SkippedShadowReportTests
{
    private static readonly string[] Lines =
    [
        "/ok 0.010 0.010 0.000 200 200",
        "/down 0.010 - - 200 -",
        """{"url":"/timeout","production_status":200,"shadow_status":null,"shadow_error":"timeout"}""",
        """{"url":"/sampled","production_status":200,"shadow_status":null,"shadow_skipped":"sampled_out"}""",
        """{"url":"/filtered","production_status":200,"shadow_status":null,"diff":"skipped"}""",
    ];

    [Fact]
    public void Matrix_keys_a_skipped_copy_apart_from_no_response_and_puts_its_column_last()
    {
        StatusMatrix matrix = ReportAggregatorTests.Summarise(Lines).Matrix;

        Assert.Equal(
            [new StatusPair(200, StatusPair.Skipped, 2), new StatusPair(200, StatusPair.NoStatus, 2), new StatusPair(200, 200, 1)],
            matrix.Pairs);
        Assert.Equal([200, StatusPair.NoStatus, StatusPair.Skipped], matrix.Columns);
    }

    [Fact]
    public void Text_matrix_has_a_skipped_column_apart_from_no_response()
    {
        var output = new StringWriter();

        TextReportRenderer.Write(ReportAggregatorTests.Summarise(Lines), output);

        string report = output.ToString();
        Assert.Matches(@"\nprod \\ shadow\s+200\s+-\s+skipped\s+total\r?\n", report);
        Assert.Matches(@"\n200\s+1\s+2\s+2\s+5\r?\n", report);   // row 200: shadow 200 ×1, '-' ×2, skipped ×2
        Assert.Contains("Production succeeded (2xx/3xx), shadow did not: 2 requests (40.0%); shadow skipped on purpose: 2", report);
    }

    [Fact]
    public void Html_paints_a_skipped_copy_apart_and_a_failed_shadow_red()
    {
        var output = new StringWriter();

        HtmlReportRenderer.Write(ReportAggregatorTests.Summarise(Lines), output);

        string html = output.ToString();
        Assert.Equal("skipped", BarClass(html, "production 200 → shadow skipped", 2));
        Assert.Equal("broken", BarClass(html, "production 200 → shadow -", 2));
        Assert.Contains("<th class=\"n\">skipped</th>", html);
    }

    [Fact]
    public void Skipped_copies_are_not_shadow_failures_and_failed_ones_still_are()
    {
        ReportSummary summary = ReportAggregatorTests.Summarise(Lines);

        Assert.Equal((2L, 2L), (summary.Aggregate.ShadowFailed, summary.Aggregate.ShadowSkipped));
        Assert.Equal(["/down", "/timeout"], summary.TopShadowFailed.Select(row => row.Path).Order(StringComparer.Ordinal));
    }

    /// <summary>The class of the status chart's bar whose tooltip is "LABEL: COUNT requests".</summary>
    private static string BarClass(string html, string label, long count)
    {
        Match bar = Regex.Match(html, $"<rect class=\"(?<class>[a-z]+)\"[^>]*><title>{Regex.Escape(label)}: {count} requests</title>");
        Assert.True(bar.Success, $"no bar for '{label}'");
        return bar.Groups["class"].Value;
    }
}
