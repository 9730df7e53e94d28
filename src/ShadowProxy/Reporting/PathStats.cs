namespace ShadowProxy.Reporting;

/// <summary>Everything kept per path: its count and coarse histograms of both times and of the delta.</summary>
internal sealed class PathStats : ICountedPath
{
    public long Count { get; private set; }

    public LatencyHistogram Production { get; } = new(LatencyHistogram.CoarseBits);

    public LatencyHistogram Shadow { get; } = new(LatencyHistogram.CoarseBits);

    public LatencyHistogram Delta { get; } = new(LatencyHistogram.CoarseBits);

    public void Add(in ReportEntry entry)
    {
        Count++;
        LatencyHistogram.AddTimes(entry, Production, Shadow, Delta);
    }
}
