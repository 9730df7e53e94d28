using System.Net;

namespace ShadowProxy.Reporting;

/// <summary>
/// One self-contained page: the same tables as the text report plus three SVG charts, with its CSS inline and no
/// script at all. The Content-Security-Policy forbids loading anything, so a page that works offline is also
/// a page that cannot quietly fetch something.
/// </summary>
internal static class HtmlReportRenderer
{
    private const string Style = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 64em; padding: 0 1em; color: #222; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
        table { border-collapse: collapse; margin: .5em 0; } th, td { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: left; }
        td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } td.path { font-family: ui-monospace, monospace; }
        .meta { color: #555; } .note { color: #8a5a00; }
        svg.chart { display: block; max-width: 100%; height: auto; margin: .5em 0; font-size: 12px; }
        svg text { fill: #333; } .axis { stroke: #888; } .p99 { stroke: #222; stroke-width: 2; }
        .same { fill: #2e7d32; } .broken { fill: #c62828; } .differs { fill: #ef8f00; } .skipped { fill: #b0bec5; }
        .faster { fill: #1e88e5; } .slower { fill: #e4572e; } .even { fill: #9e9e9e; }
        .production.p50 { fill: #1565c0; } .production.p95 { fill: #90caf9; }
        .shadow.p50 { fill: #d84315; } .shadow.p95 { fill: #ffab91; }
        """;

    public static void Write(ReportSummary summary, TextWriter output)
    {
        ReportAggregator all = summary.Aggregate;
        output.WriteLine("<!DOCTYPE html>");
        output.WriteLine("<html lang=\"en\"><head><meta charset=\"utf-8\">");
        output.WriteLine("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">");
        output.WriteLine("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        output.WriteLine("<title>ShadowProxy report</title>");
        output.WriteLine($"<style>\n{Style}\n</style></head><body>");
        output.WriteLine("<h1>ShadowProxy report</h1>");
        output.WriteLine($"<p class=\"meta\">{ReportFormat.Count(all.Requests)} requests ({ReportFormat.Count(all.TextLines)} text lines, {ReportFormat.Count(all.JsonLines)} json lines) from {E(string.Join(", ", summary.Sources))}. Malformed lines: {ReportFormat.Count(all.MalformedLines)}.</p>");
        if (all.MalformedExampleLines.Count > 0)
        {
            output.WriteLine("<ul class=\"note\">");
            foreach (string example in all.MalformedExampleLines)
            {
                output.WriteLine($"<li><code>{E(example)}</code></li>");
            }

            output.WriteLine("</ul>");
        }

        output.WriteLine("<h2 id=\"status\">Status: production × shadow</h2>");
        SvgCharts.StatusBreakdown(summary, output);
        WriteMatrix(summary, output);

        output.WriteLine("<h2 id=\"shadow-failed\">Production succeeded (2xx/3xx), shadow did not</h2>");
        output.WriteLine($"<p>{ReportFormat.Count(all.ShadowFailed)} requests ({ReportFormat.Percent(all.ShadowFailed, all.Requests)}).{(all.ShadowSkipped > 0 ? $" Shadow skipped on purpose: {ReportFormat.Count(all.ShadowSkipped)}." : "")}</p>");
        WritePathCounts(summary.TopShadowFailed, output);

        output.WriteLine("<h2 id=\"body\">Body mismatches</h2>");
        output.WriteLine(all.BodyCompared == 0
            ? "<p>The log does not say (json lines with <code>body_match</code> or <code>diff</code> do).</p>"
            : $"<p>{ReportFormat.Count(all.BodyMismatches)} of {ReportFormat.Count(all.BodyCompared)} compared ({ReportFormat.Percent(all.BodyMismatches, all.BodyCompared)}).</p>");
        WritePathCounts(summary.TopBodyMismatches, output);

        output.WriteLine("<h2 id=\"latency\">Latency</h2>");
        output.WriteLine("<table><tr><th>seconds</th><th class=\"n\">requests</th><th class=\"n\">p50</th><th class=\"n\">p95</th><th class=\"n\">p99</th><th class=\"n\">max</th></tr>");
        LatencyRow("production", summary.Production, ReportFormat.Seconds, output);
        LatencyRow("shadow", summary.Shadow, ReportFormat.Seconds, output);
        LatencyRow("delta (shadow − production)", summary.Delta, ReportFormat.SignedSeconds, output);
        output.WriteLine("</table>");
        output.WriteLine("<h3>Delta histogram</h3>");
        SvgCharts.DeltaHistogram(summary, output);

        output.WriteLine("<h2 id=\"paths\">Latency percentiles by path</h2>");
        SvgCharts.PathLatency(summary, output);
        output.WriteLine("<table><tr><th class=\"n\">requests</th><th class=\"n\">prod p50</th><th class=\"n\">prod p95</th><th class=\"n\">prod p99</th><th class=\"n\">shadow p50</th><th class=\"n\">shadow p95</th><th class=\"n\">shadow p99</th><th>path</th></tr>");
        foreach (PathLatency row in summary.BusiestPaths)
        {
            output.WriteLine($"<tr>{N(ReportFormat.Count(row.Requests))}{N(ReportFormat.Seconds(row.Production.P50))}{N(ReportFormat.Seconds(row.Production.P95))}{N(ReportFormat.Seconds(row.Production.P99))}{N(ReportFormat.Seconds(row.Shadow.P50))}{N(ReportFormat.Seconds(row.Shadow.P95))}{N(ReportFormat.Seconds(row.Shadow.P99))}<td class=\"path\">{E(row.Path)}</td></tr>");
        }

        output.WriteLine("</table>");

        output.WriteLine("<h2 id=\"slower\">Paths that got slower</h2>");
        output.WriteLine($"<p>Median delta above zero, at least {ReportFormat.Count(summary.MinRequests)} requests with both times; slowest first.</p>");
        output.WriteLine("<table><tr><th class=\"n\">requests</th><th class=\"n\">median delta</th><th class=\"n\">p95 delta</th><th class=\"n\">prod p50</th><th class=\"n\">shadow p50</th><th>path</th></tr>");
        foreach (PathLatency row in summary.SlowerPaths)
        {
            output.WriteLine($"<tr>{N(ReportFormat.Count(row.Delta.Count))}{N(ReportFormat.SignedSeconds(row.Delta.P50))}{N(ReportFormat.SignedSeconds(row.Delta.P95))}{N(ReportFormat.Seconds(row.Production.P50))}{N(ReportFormat.Seconds(row.Shadow.P50))}<td class=\"path\">{E(row.Path)}</td></tr>");
        }

        output.WriteLine("</table>");
        if (all.Paths.DroppedPaths > 0)
        {
            output.WriteLine($"<p class=\"note\">More than {ReportFormat.Count(2L * all.Paths.Capacity)} distinct paths: the busiest {ReportFormat.Count(all.Paths.Capacity)} were kept; {ReportFormat.Count(all.Paths.DroppedRequests)} requests of rarer paths are in the totals but not in the path tables, and path counts are lower bounds.</p>");
        }

        output.WriteLine("</body></html>");
    }

    private static void WriteMatrix(ReportSummary summary, TextWriter output)
    {
        StatusMatrix matrix = summary.Matrix;
        output.Write("<table class=\"matrix\"><tr><th>production \\ shadow</th>");
        foreach (int column in matrix.Columns)
        {
            output.Write($"<th class=\"n\">{ReportFormat.Status(column)}</th>");
        }

        output.WriteLine("<th class=\"n\">total</th></tr>");
        foreach (int row in matrix.Rows)
        {
            output.Write($"<tr><th>{ReportFormat.Status(row)}</th>");
            foreach (int column in matrix.Columns)
            {
                long count = matrix.Count(row, column);
                output.Write(N(count == 0 ? "" : ReportFormat.Count(count)));
            }

            output.WriteLine($"{N(ReportFormat.Count(matrix.RowTotal(row)))}</tr>");
        }

        output.WriteLine("</table>");
    }

    private static void WritePathCounts(IReadOnlyList<PathCount> rows, TextWriter output)
    {
        if (rows.Count == 0)
        {
            return;
        }

        output.WriteLine("<table><tr><th class=\"n\">requests</th><th>path</th></tr>");
        foreach (PathCount row in rows)
        {
            output.WriteLine($"<tr>{N(ReportFormat.Count(row.Count))}<td class=\"path\">{E(row.Path)}</td></tr>");
        }

        output.WriteLine("</table>");
    }

    private static void LatencyRow(string name, LatencySummary latency, Func<long?, string> format, TextWriter output) =>
        output.WriteLine($"<tr><th>{name}</th>{N(ReportFormat.Count(latency.Count))}{N(format(latency.P50))}{N(format(latency.P95))}{N(format(latency.P99))}{N(format(latency.Max))}</tr>");

    private static string N(string text) => $"<td class=\"n\">{text}</td>";

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
