namespace ShadowProxy.Metrics;

/// <summary>What happened in one stats interval.</summary>
/// <param name="Mismatches">Requests whose shadow answered with another status or another body.</param>
internal readonly record struct IntervalTotals(
    long Requests, long Mismatches, long ShadowErrors, long Skips, TimeSpan? ProductionMedian, TimeSpan? ShadowMedian);
