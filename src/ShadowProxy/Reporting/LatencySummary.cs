namespace ShadowProxy.Reporting;

/// <summary>Percentiles of one series, in milliseconds; null when the series is empty.</summary>
internal sealed record LatencySummary(long Count, long? P50, long? P95, long? P99, long? Max)
{
    public static LatencySummary Of(LatencyHistogram histogram) => new(
        histogram.Count,
        histogram.Percentile(50),
        histogram.Percentile(95),
        histogram.Percentile(99),
        histogram.Count > 0 ? histogram.Max : null);
}
