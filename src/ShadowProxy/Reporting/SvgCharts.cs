using System.Globalization;
using System.Net;

namespace ShadowProxy.Reporting;

/// <summary>
/// The page's three charts as inline SVG, drawn here from the summary: nothing to load, nothing to run.
/// Every bar has a &lt;title&gt;, which browsers show as a tooltip.
/// </summary>
internal static class SvgCharts
{
    private const int Width = 760;
    private const int LabelWidth = 230;
    private const int RowHeight = 22;
    private const int MaxStatusBars = 12;
    private const int MaxPaths = 10;

    /// <summary>
    /// Status pairs as horizontal bars: green when both agree, red when only the shadow failed, grey when the shadow
    /// got no copy on purpose, amber otherwise.
    /// </summary>
    public static void StatusBreakdown(ReportSummary summary, TextWriter output)
    {
        List<StatusPair> pairs = [.. summary.Matrix.Pairs.Take(MaxStatusBars)];
        int height = (pairs.Count * RowHeight) + 10;
        long max = pairs.Count == 0 ? 1 : pairs.Max(pair => pair.Count);
        double scale = (Width - LabelWidth - 90) / (double)max;
        output.WriteLine($"<svg id=\"status-chart\" class=\"chart\" role=\"img\" aria-label=\"Requests by status pair\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        for (int i = 0; i < pairs.Count; i++)
        {
            StatusPair pair = pairs[i];
            string kind = pair.Kind switch
            {
                StatusPairKind.Same => "same",
                StatusPairKind.ShadowFailed => "broken",
                StatusPairKind.ShadowSkipped => "skipped",
                _ => "differs",
            };
            int y = 5 + (i * RowHeight);
            string label = $"production {ReportFormat.Status(pair.Production)} → shadow {ReportFormat.Status(pair.Shadow)}";
            output.WriteLine($"  <text x=\"{LabelWidth - 8}\" y=\"{y + 15}\" text-anchor=\"end\">{Escape(label)}</text>");
            output.WriteLine($"  <rect class=\"{kind}\" x=\"{LabelWidth}\" y=\"{y + 3}\" width=\"{F(Math.Max(1, pair.Count * scale))}\" height=\"{RowHeight - 6}\"><title>{Escape(label)}: {ReportFormat.Count(pair.Count)} requests</title></rect>");
            output.WriteLine($"  <text x=\"{F(LabelWidth + (pair.Count * scale) + 6)}\" y=\"{y + 15}\">{ReportFormat.Count(pair.Count)} ({ReportFormat.Percent(pair.Count, summary.Aggregate.Requests)})</text>");
        }

        output.WriteLine("</svg>");
    }

    /// <summary>Vertical bars of the delta distribution: left of zero the shadow was faster, right of it slower.</summary>
    public static void DeltaHistogram(ReportSummary summary, TextWriter output)
    {
        IReadOnlyList<HistogramBin> bins = summary.DeltaHistogram;
        const int Height = 260;
        const int Left = 60;
        const int Bottom = 40;
        const int Top = 10;
        double plotHeight = Height - Bottom - Top;
        double barWidth = bins.Count == 0 ? 0 : (Width - Left - 10) / (double)bins.Count;
        long max = bins.Count == 0 ? 1 : Math.Max(1, bins.Max(bin => bin.Count));
        output.WriteLine($"<svg id=\"delta-chart\" class=\"chart\" role=\"img\" aria-label=\"Histogram of shadow minus production time\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        output.WriteLine($"  <line class=\"axis\" x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - 10}\" y2=\"{Height - Bottom}\"/>");
        output.WriteLine($"  <text x=\"{Left - 6}\" y=\"{Top + 10}\" text-anchor=\"end\">{ReportFormat.Count(max)}</text>");
        output.WriteLine($"  <text x=\"{Left - 6}\" y=\"{Height - Bottom}\" text-anchor=\"end\">0</text>");
        int labelEvery = Math.Max(1, (int)Math.Ceiling(bins.Count / 8.0));
        for (int i = 0; i < bins.Count; i++)
        {
            HistogramBin bin = bins[i];
            double x = Left + (i * barWidth);
            double barHeight = bin.Count == 0 ? 0 : Math.Max(1, bin.Count * plotHeight / max);
            string kind = bin.To <= 0 ? "faster" : bin.From > 0 ? "slower" : "even";   // the bin holding 0 is neither
            string range = bin.From == long.MinValue ? $"below {ReportFormat.SignedSeconds(bin.To)} s"
                : bin.To == long.MaxValue ? $"{ReportFormat.SignedSeconds(bin.From)} s and above"
                : $"{ReportFormat.SignedSeconds(bin.From)} to {ReportFormat.SignedSeconds(bin.To)} s";
            output.WriteLine($"  <rect class=\"{kind}\" x=\"{F(x + 1)}\" y=\"{F(Height - Bottom - barHeight)}\" width=\"{F(Math.Max(1, barWidth - 2))}\" height=\"{F(barHeight)}\"><title>{Escape(range)}: {ReportFormat.Count(bin.Count)} requests</title></rect>");
            if (i % labelEvery == 0 && bin.From != long.MinValue)
            {
                output.WriteLine($"  <text x=\"{F(x)}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{ReportFormat.SignedSeconds(bin.From)}</text>");
            }
        }

        output.WriteLine($"  <text x=\"{Width / 2}\" y=\"{Height - 4}\" text-anchor=\"middle\">shadow minus production, seconds (left: shadow faster, right: shadow slower)</text>");
        output.WriteLine("</svg>");
    }

    /// <summary>For the busiest paths, one bar per side: p50 dark, p95 light behind it, a tick at p99.</summary>
    public static void PathLatency(ReportSummary summary, TextWriter output)
    {
        List<PathLatency> paths = [.. summary.BusiestPaths.Take(MaxPaths)];
        const int Top = 30;
        const int Axis = 30;
        int height = Top + (paths.Count * RowHeight * 2) + Axis;
        long max = Math.Max(1, paths.Select(path => Math.Max(path.Production.P99 ?? 0, path.Shadow.P99 ?? 0)).DefaultIfEmpty(1).Max());
        long step = TickStep(max);
        long axisMax = ((max / step) + 1) * step;
        double scale = (Width - LabelWidth - 20) / (double)axisMax;
        output.WriteLine($"<svg id=\"path-chart\" class=\"chart\" role=\"img\" aria-label=\"Latency percentiles of the busiest paths\" width=\"{Width}\" height=\"{height}\" viewBox=\"0 0 {Width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">");
        output.WriteLine($"  <rect class=\"production p50\" x=\"{LabelWidth}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{LabelWidth + 16}\" y=\"16\">production</text>");
        output.WriteLine($"  <rect class=\"shadow p50\" x=\"{LabelWidth + 100}\" y=\"6\" width=\"12\" height=\"12\"/><text x=\"{LabelWidth + 116}\" y=\"16\">shadow</text>");
        output.WriteLine($"  <text x=\"{LabelWidth + 180}\" y=\"16\">dark: p50, light: p95, tick: p99</text>");
        for (int i = 0; i < paths.Count; i++)
        {
            PathLatency path = paths[i];
            int y = Top + (i * RowHeight * 2);
            string label = path.Path.Length > 34 ? string.Concat(path.Path.AsSpan(0, 33), "…") : path.Path;
            output.WriteLine($"  <text x=\"{LabelWidth - 8}\" y=\"{y + RowHeight + 4}\" text-anchor=\"end\"><title>{Escape(path.Path)}</title>{Escape(label)}</text>");
            Bar("production", path.Path, path.Production, y + 2, scale, output);
            Bar("shadow", path.Path, path.Shadow, y + RowHeight, scale, output);
        }

        int axisY = Top + (paths.Count * RowHeight * 2) + 4;
        output.WriteLine($"  <line class=\"axis\" x1=\"{LabelWidth}\" y1=\"{axisY}\" x2=\"{F(LabelWidth + (axisMax * scale))}\" y2=\"{axisY}\"/>");
        for (long tick = 0; tick <= axisMax; tick += step)
        {
            output.WriteLine($"  <text x=\"{F(LabelWidth + (tick * scale))}\" y=\"{axisY + 16}\" text-anchor=\"middle\">{ReportFormat.Seconds(tick)}</text>");
        }

        output.WriteLine("</svg>");
    }

    private static void Bar(string side, string path, LatencySummary latency, int y, double scale, TextWriter output)
    {
        if (latency.Count == 0)
        {
            output.WriteLine($"  <text x=\"{LabelWidth + 4}\" y=\"{y + 14}\">{side}: no times</text>");
            return;
        }

        string title = $"{Escape(path)} {side}: p50 {ReportFormat.Seconds(latency.P50)} s, p95 {ReportFormat.Seconds(latency.P95)} s, p99 {ReportFormat.Seconds(latency.P99)} s ({ReportFormat.Count(latency.Count)} requests)";
        output.WriteLine($"  <rect class=\"{side} p95\" x=\"{LabelWidth}\" y=\"{y}\" width=\"{F(Math.Max(1, latency.P95!.Value * scale))}\" height=\"{RowHeight - 6}\"><title>{title}</title></rect>");
        output.WriteLine($"  <rect class=\"{side} p50\" x=\"{LabelWidth}\" y=\"{y}\" width=\"{F(Math.Max(1, latency.P50!.Value * scale))}\" height=\"{RowHeight - 6}\"><title>{title}</title></rect>");
        double p99 = LabelWidth + (latency.P99!.Value * scale);
        output.WriteLine($"  <line class=\"p99\" x1=\"{F(p99)}\" y1=\"{y - 1}\" x2=\"{F(p99)}\" y2=\"{y + RowHeight - 5}\"><title>{title}</title></line>");
    }

    /// <summary>
    /// The smallest round step (1, 2 or 5 × 10^k ms) with at most eight whole steps in <paramref name="max"/>
    /// (max / step ≤ 8, that is step > max / 9), which gives four to ten ticks.
    /// </summary>
    private static long TickStep(long max) => RoundStep.AtLeast((max / 9) + 1);

    private static string F(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
