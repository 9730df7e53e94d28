namespace ShadowProxy.Metrics;

/// <summary>
/// A lock-free histogram of durations for the stats line's medians: eight buckets per doubling from 1 ms (about 9 %
/// wide), so a median is close enough to act on, recording is one Interlocked increment, and memory is fixed.
/// </summary>
internal sealed class LatencyBuckets
{
    private const int PerDoubling = 8;
    private const int Count = 26 * PerDoubling;   // up to 2^26 ms, about 18 hours

    private readonly long[] _counts = new long[Count];

    public void Record(TimeSpan elapsed)
    {
        double milliseconds = Math.Max(0, elapsed.TotalMilliseconds);
        int index = (int)Math.Min(Count - 1, Math.Log2(milliseconds + 1) * PerDoubling);
        Interlocked.Increment(ref _counts[index]);
    }

    /// <summary>The median of what was recorded since the last call, and starts over; null when nothing was.</summary>
    public TimeSpan? TakeMedian()
    {
        Span<long> snapshot = stackalloc long[Count];
        long total = 0;
        for (int i = 0; i < Count; i++)
        {
            snapshot[i] = Interlocked.Exchange(ref _counts[i], 0);
            total += snapshot[i];
        }

        if (total == 0)
        {
            return null;
        }

        long seen = 0;
        for (int i = 0; i < Count; i++)
        {
            seen += snapshot[i];
            if (seen * 2 >= total)
            {
                // The middle of the bucket, on the same log scale it was filled on.
                return TimeSpan.FromMilliseconds(Math.Pow(2, (i + 0.5) / PerDoubling) - 1);
            }
        }

        return null;
    }
}
