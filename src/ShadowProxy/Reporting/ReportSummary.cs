namespace ShadowProxy.Reporting;

/// <summary>
/// What both renderers print, computed once from a <see cref="ReportAggregator"/>: the tables are already ranked and
/// cut to <c>top</c> rows, so the text and the HTML page always agree.
/// </summary>
internal sealed class ReportSummary
{
    private const int DeltaBins = 24;

    public ReportSummary(ReportAggregator aggregate, IReadOnlyList<string> sources, int top, int minRequests)
    {
        Sources = sources;
        Aggregate = aggregate;
        MinRequests = minRequests;
        Matrix = new StatusMatrix(aggregate.Matrix);
        TopShadowFailed = [.. aggregate.ShadowFailedPaths.Top(entry => entry.Count, top).Select(row => new PathCount(row.Path, row.Entry.Count))];
        TopBodyMismatches = [.. aggregate.BodyMismatchPaths.Top(entry => entry.Count, top).Select(row => new PathCount(row.Path, row.Entry.Count))];
        Production = LatencySummary.Of(aggregate.Production);
        Shadow = LatencySummary.Of(aggregate.Shadow);
        Delta = LatencySummary.Of(aggregate.Delta);
        BusiestPaths = [.. aggregate.Paths.Top(stats => stats.Count, top).Select(row => Latency(row.Path, row.Entry))];
        SlowerPaths = [.. aggregate.Paths.All()
            .Where(row => row.Entry.Delta.Count >= minRequests && row.Entry.Delta.Percentile(50) > 0)
            .Select(row => Latency(row.Path, row.Entry))
            .OrderByDescending(row => row.Delta.P50)
            .ThenByDescending(row => row.Delta.Count)
            .ThenBy(row => row.Path, StringComparer.Ordinal)
            .Take(top)];
        DeltaHistogram = Bin(aggregate.Delta, DeltaBins);
    }

    public IReadOnlyList<string> Sources { get; }

    /// <summary>The counters (requests, malformed lines, skips, failures, path-table pruning).</summary>
    public ReportAggregator Aggregate { get; }

    /// <summary>Paths with fewer deltas than this are left out of <see cref="SlowerPaths"/>.</summary>
    public int MinRequests { get; }

    public StatusMatrix Matrix { get; }

    public IReadOnlyList<PathCount> TopShadowFailed { get; }

    public IReadOnlyList<PathCount> TopBodyMismatches { get; }

    public LatencySummary Production { get; }

    public LatencySummary Shadow { get; }

    public LatencySummary Delta { get; }

    /// <summary>The paths with the most requests, with their percentiles.</summary>
    public IReadOnlyList<PathLatency> BusiestPaths { get; }

    /// <summary>Paths whose median delta is positive (the shadow is slower), slowest first.</summary>
    public IReadOnlyList<PathLatency> SlowerPaths { get; }

    public IReadOnlyList<HistogramBin> DeltaHistogram { get; }

    private static PathLatency Latency(string path, PathStats stats) =>
        new(path, stats.Count, LatencySummary.Of(stats.Production), LatencySummary.Of(stats.Shadow), LatencySummary.Of(stats.Delta));

    /// <summary>
    /// Equal-width bins of a round width (1, 2 or 5 × 10^k ms) from p1 to p99, with the tails beyond them in one bin
    /// each, so that a few outliers do not squeeze the body of the distribution into a single bar.
    /// </summary>
    private static List<HistogramBin> Bin(LatencyHistogram histogram, int targetBins)
    {
        if (histogram.Count == 0)
        {
            return [];
        }

        long low = histogram.Percentile(1)!.Value;
        long high = histogram.Percentile(99)!.Value;
        long width = RoundStep.AtLeast(Math.Max(1, (high - low + targetBins) / targetBins));
        long first = (long)Math.Floor((double)low / width) * width;
        long end = ((long)Math.Floor((double)high / width) + 1) * width;
        int count = (int)((end - first) / width);
        var counts = new long[count + 2];   // [0] below first, [count + 1] at or above end
        foreach ((long middle, long n) in histogram.Buckets())
        {
            // Kept within the smallest and largest values, as the percentiles are: the middle of the lowest bucket can
            // lie below p1 when p1 is the smallest value, which would put that bucket in the tail below p1.
            long value = Math.Clamp(middle, histogram.Min, histogram.Max);
            int index = value < first ? 0 : value >= end ? count + 1 : 1 + (int)((value - first) / width);
            counts[index] += n;
        }

        var bins = new List<HistogramBin>(count + 2);
        if (counts[0] > 0)
        {
            bins.Add(new HistogramBin(long.MinValue, first, counts[0]));
        }

        for (int i = 0; i < count; i++)
        {
            bins.Add(new HistogramBin(first + (i * width), first + ((i + 1) * width), counts[i + 1]));
        }

        if (counts[count + 1] > 0)
        {
            bins.Add(new HistogramBin(end, long.MaxValue, counts[count + 1]));
        }

        return bins;
    }
}
