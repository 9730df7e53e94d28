namespace ShadowProxy.Reporting;

/// <summary>The report on stdout: plain aligned columns, one section per question the user used to ask Kibana.</summary>
internal static class TextReportRenderer
{
    public static void Write(ReportSummary summary, TextWriter output)
    {
        ReportAggregator all = summary.Aggregate;
        output.WriteLine($"ShadowProxy report: {ReportFormat.Count(all.Requests)} requests ({ReportFormat.Count(all.TextLines)} text lines, {ReportFormat.Count(all.JsonLines)} json lines) from {string.Join(", ", summary.Sources)}");
        output.WriteLine($"Malformed lines: {ReportFormat.Count(all.MalformedLines)}");
        foreach (string example in all.MalformedExampleLines)
        {
            output.WriteLine($"  {example}");
        }

        if (all.Requests == 0)
        {
            return;
        }

        WriteMatrix(summary, output);
        output.WriteLine();
        output.WriteLine($"Production succeeded (2xx/3xx), shadow did not: {ReportFormat.Count(all.ShadowFailed)} requests ({ReportFormat.Percent(all.ShadowFailed, all.Requests)})"
            + (all.ShadowSkipped > 0 ? $"; shadow skipped on purpose: {ReportFormat.Count(all.ShadowSkipped)}" : ""));
        WritePathCounts(summary.TopShadowFailed, output);

        output.WriteLine();
        if (all.BodyCompared == 0)
        {
            output.WriteLine("Body mismatches: the log does not say (json lines with body_match or diff do)");
        }
        else
        {
            output.WriteLine($"Body mismatches: {ReportFormat.Count(all.BodyMismatches)} of {ReportFormat.Count(all.BodyCompared)} compared ({ReportFormat.Percent(all.BodyMismatches, all.BodyCompared)})");
            WritePathCounts(summary.TopBodyMismatches, output);
        }

        output.WriteLine();
        output.WriteLine("Latency (seconds)      requests      p50      p95      p99      max");
        WriteLatency("production", summary.Production, output, ReportFormat.Seconds);
        WriteLatency("shadow", summary.Shadow, output, ReportFormat.Seconds);
        WriteLatency("delta (shadow-prod)", summary.Delta, output, ReportFormat.SignedSeconds);

        output.WriteLine();
        output.WriteLine($"Paths that got slower (median delta > 0, at least {summary.MinRequests} requests with both times)");
        if (summary.SlowerPaths.Count == 0)
        {
            output.WriteLine("  none");
        }
        else
        {
            output.WriteLine("  requests  median delta  p95 delta  prod p50  shadow p50  path");
            foreach (PathLatency row in summary.SlowerPaths)
            {
                output.WriteLine($"  {ReportFormat.Count(row.Delta.Count),8}  {ReportFormat.SignedSeconds(row.Delta.P50),12}  {ReportFormat.SignedSeconds(row.Delta.P95),9}  {ReportFormat.Seconds(row.Production.P50),8}  {ReportFormat.Seconds(row.Shadow.P50),10}  {ReportFormat.Printable(row.Path)}");
            }
        }

        output.WriteLine();
        output.WriteLine("Busiest paths (seconds)");
        output.WriteLine("  requests  prod p50  prod p95  prod p99  shadow p50  shadow p95  shadow p99  path");
        foreach (PathLatency row in summary.BusiestPaths)
        {
            output.WriteLine($"  {ReportFormat.Count(row.Requests),8}  {ReportFormat.Seconds(row.Production.P50),8}  {ReportFormat.Seconds(row.Production.P95),8}  {ReportFormat.Seconds(row.Production.P99),8}  {ReportFormat.Seconds(row.Shadow.P50),10}  {ReportFormat.Seconds(row.Shadow.P95),10}  {ReportFormat.Seconds(row.Shadow.P99),10}  {ReportFormat.Printable(row.Path)}");
        }

        if (all.Paths.DroppedPaths > 0)
        {
            output.WriteLine();
            output.WriteLine($"Note: more than {ReportFormat.Count(2L * all.Paths.Capacity)} distinct paths; the busiest {ReportFormat.Count(all.Paths.Capacity)} were kept, "
                + $"{ReportFormat.Count(all.Paths.DroppedRequests)} requests of rarer paths are in the totals but not in the path tables, and path counts are lower bounds.");
        }
    }

    private static void WriteMatrix(ReportSummary summary, TextWriter output)
    {
        StatusMatrix matrix = summary.Matrix;
        int widest = Math.Max(ReportFormat.Count(summary.Aggregate.Requests).Length, matrix.Columns.Max(column => ReportFormat.Status(column).Length));
        int width = Math.Max(7, widest + 1);
        bool anySkipped = matrix.Columns.Contains(StatusPair.Skipped);

        output.WriteLine();
        output.WriteLine("Status: production (rows) x shadow (columns), requests; '-' = no response"
            + (anySkipped ? "; skipped = no copy sent on purpose" : ""));
        output.Write("prod \\ shadow");
        foreach (int column in matrix.Columns)
        {
            output.Write(ReportFormat.Status(column).PadLeft(width));
        }

        output.WriteLine("total".PadLeft(width + 1));
        foreach (int row in matrix.Rows)
        {
            output.Write(ReportFormat.Status(row).PadRight(13));
            foreach (int column in matrix.Columns)
            {
                long count = matrix.Count(row, column);
                output.Write((count == 0 ? "." : ReportFormat.Count(count)).PadLeft(width));
            }

            output.WriteLine(ReportFormat.Count(matrix.RowTotal(row)).PadLeft(width + 1));
        }
    }

    private static void WritePathCounts(IReadOnlyList<PathCount> rows, TextWriter output)
    {
        if (rows.Count > 0)
        {
            output.WriteLine("  requests  path");
        }

        foreach (PathCount row in rows)
        {
            output.WriteLine($"  {ReportFormat.Count(row.Count),8}  {ReportFormat.Printable(row.Path)}");
        }
    }

    private static void WriteLatency(string name, LatencySummary latency, TextWriter output, Func<long?, string> format) =>
        output.WriteLine($"  {name,-20} {ReportFormat.Count(latency.Count),8} {format(latency.P50),8} {format(latency.P95),8} {format(latency.P99),8} {format(latency.Max),8}");
}
