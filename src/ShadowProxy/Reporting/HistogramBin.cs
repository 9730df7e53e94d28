namespace ShadowProxy.Reporting;

/// <summary>
/// Deltas from <see cref="From"/> (inclusive) to <see cref="To"/> (exclusive), in milliseconds. The first bin may
/// start at <see cref="long.MinValue"/> and the last end at <see cref="long.MaxValue"/>: the tails beyond p1 and p99.
/// </summary>
internal sealed record HistogramBin(long From, long To, long Count);
