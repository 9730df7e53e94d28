namespace ShadowProxy.Reporting;

/// <summary>Round numbers (1, 2 or 5 × 10^k) for histogram bin widths and axis ticks, so the labels read easily.</summary>
internal static class RoundStep
{
    /// <summary>The smallest 1, 2 or 5 × 10^k that is at least <paramref name="value"/> (1 for anything below).</summary>
    public static long AtLeast(long value)
    {
        long magnitude = 1;
        while (true)
        {
            foreach (long step in (ReadOnlySpan<long>)[1, 2, 5])
            {
                if (step * magnitude >= value)
                {
                    return step * magnitude;
                }
            }

            magnitude *= 10;
        }
    }
}
