using ShadowProxy.Reporting;

namespace ShadowProxy.Tests.Reporting;

public class LatencyHistogramTests
{
    [Fact]
    public void Small_values_give_exact_nearest_rank_percentiles()
    {
        var histogram = new LatencyHistogram(LatencyHistogram.FineBits);
        foreach (long value in Enumerable.Range(1, 100).Reverse())
        {
            histogram.Add(value);
        }

        Assert.Equal([50L, 95L, 99L, 100L], [histogram.Percentile(50)!.Value, histogram.Percentile(95)!.Value, histogram.Percentile(99)!.Value, histogram.Percentile(100)!.Value]);
        Assert.Equal((1, 100), (histogram.Min, histogram.Max));
    }

    [Theory]
    [InlineData(LatencyHistogram.FineBits, 0.004)]
    [InlineData(LatencyHistogram.CoarseBits, 0.032)]
    public void Large_values_are_within_the_stated_relative_error(int bits, double error)
    {
        var histogram = new LatencyHistogram(bits);
        long[] values = [.. Enumerable.Range(0, 1000).Select(i => 300L + (i * 997L))];   // 0.3 s to ~1000 s
        foreach (long value in values)
        {
            histogram.Add(value);
        }

        foreach (double percent in (double[])[50, 95, 99])
        {
            long exact = values[(int)Math.Ceiling(percent / 100 * values.Length) - 1];
            long estimate = histogram.Percentile(percent)!.Value;
            Assert.InRange(estimate, exact * (1 - error), exact * (1 + error));
        }
    }

    [Fact]
    public void Negative_values_sort_below_zero()
    {
        var histogram = new LatencyHistogram(LatencyHistogram.FineBits);
        foreach (long value in (long[])[-300, -20, -20, 0, 5, 40])
        {
            histogram.Add(value);
        }

        Assert.Equal(-300, histogram.Percentile(1));
        Assert.Equal(-20, histogram.Percentile(50));
        Assert.Equal(0, histogram.Percentile(60));
        Assert.Equal(40, histogram.Percentile(99));
        Assert.Equal([-300L, -20, 0, 5, 40], histogram.Buckets().Select(bucket => bucket.Value));
    }

    [Fact]
    public void Empty_histogram_has_no_percentile()
    {
        Assert.Null(new LatencyHistogram(LatencyHistogram.CoarseBits).Percentile(50));
    }
}
