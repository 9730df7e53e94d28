using System.Numerics;

namespace ShadowProxy.Reporting;

/// <summary>
/// Counts of whole milliseconds (negative ones too, for deltas) in log-linear buckets, so percentiles of any number
/// of values come from a fixed amount of memory. Values below 2^(bits+1) ms get a bucket each (exact); above, every
/// power of two is split into 2^bits buckets, so a reported percentile is within 2^-(bits+1) of a value that
/// occurred (bits 7: 0.4 %). The arrays grow only as far as the largest value seen: a path whose times stay under
/// a minute needs a few hundred buckets.
/// </summary>
internal sealed class LatencyHistogram
{
    /// <summary>The whole log's histograms: exact up to 256 ms, then within 0.4 %.</summary>
    public const int FineBits = 7;

    /// <summary>Per-path histograms (many of them): exact up to 32 ms, then within 3 %.</summary>
    public const int CoarseBits = 4;

    private readonly int _bits;
    private long[] _positive = [];   // value >= 0
    private long[] _negative = [];   // value < 0, by magnitude

    public LatencyHistogram(int bits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 16);
        _bits = bits;
    }

    public long Count { get; private set; }

    public long Min { get; private set; } = long.MaxValue;

    public long Max { get; private set; } = long.MinValue;

    /// <summary>Adds a line's production time, shadow time and delta, each where the line has it.</summary>
    public static void AddTimes(in ReportEntry entry, LatencyHistogram production, LatencyHistogram shadow, LatencyHistogram delta)
    {
        if (entry.ProductionMilliseconds is { } productionMilliseconds)
        {
            production.Add(productionMilliseconds);
        }

        if (entry.ShadowMilliseconds is { } shadowMilliseconds)
        {
            shadow.Add(shadowMilliseconds);
        }

        if (entry.DeltaMilliseconds is { } deltaMilliseconds)
        {
            delta.Add(deltaMilliseconds);
        }
    }

    public void Add(long milliseconds)
    {
        if (milliseconds >= 0)
        {
            Increment(ref _positive, BucketOf(milliseconds));
        }
        else
        {
            Increment(ref _negative, BucketOf(-milliseconds));
        }

        Count++;
        Min = Math.Min(Min, milliseconds);
        Max = Math.Max(Max, milliseconds);
    }

    /// <summary>
    /// The nearest-rank percentile (the smallest value with at least <paramref name="percent"/> % of the values at or
    /// below it), as the middle of its bucket, kept within the smallest and largest values seen. Null when empty.
    /// </summary>
    public long? Percentile(double percent)
    {
        if (Count == 0)
        {
            return null;
        }

        long rank = Math.Clamp((long)Math.Ceiling(percent / 100 * Count), 1, Count);
        foreach ((long value, long count) in Buckets())
        {
            rank -= count;
            if (rank <= 0)
            {
                return Math.Clamp(value, Min, Max);
            }
        }

        return Max;
    }

    /// <summary>Every non-empty bucket from the lowest value up, as (middle of the bucket, count).</summary>
    public IEnumerable<(long Value, long Count)> Buckets()
    {
        for (int i = _negative.Length - 1; i >= 0; i--)
        {
            if (_negative[i] > 0)
            {
                yield return (-Middle(i), _negative[i]);
            }
        }

        for (int i = 0; i < _positive.Length; i++)
        {
            if (_positive[i] > 0)
            {
                yield return (Middle(i), _positive[i]);
            }
        }
    }

    private int Linear => 2 << _bits;

    private int BucketOf(long magnitude)
    {
        if (magnitude < Linear)
        {
            return (int)magnitude;
        }

        int exponent = BitOperations.Log2((ulong)magnitude);
        int shift = exponent - _bits;
        int sub = (int)(magnitude >> shift) - (1 << _bits);
        return Linear + ((exponent - _bits - 1) << _bits) + sub;
    }

    private long Middle(int bucket)
    {
        if (bucket < Linear)
        {
            return bucket;
        }

        int k = bucket - Linear;
        int shift = (k >> _bits) + 1;
        long low = ((1L << _bits) + (k & ((1 << _bits) - 1))) << shift;
        return low + (((1L << shift) - 1) / 2);
    }

    private static void Increment(ref long[] counts, int bucket)
    {
        if (bucket >= counts.Length)
        {
            Array.Resize(ref counts, Math.Max(bucket + 1, counts.Length * 2));
        }

        counts[bucket]++;
    }
}
