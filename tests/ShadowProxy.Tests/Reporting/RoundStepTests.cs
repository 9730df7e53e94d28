using ShadowProxy.Reporting;

namespace ShadowProxy.Tests.Reporting;

public class RoundStepTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 5)]
    [InlineData(6, 10)]
    [InlineData(11, 20)]
    [InlineData(200, 200)]
    [InlineData(201, 500)]
    [InlineData(5001, 10_000)]
    public void At_least_is_the_smallest_one_two_or_five_times_a_power_of_ten_not_below_the_value(long value, long expected) =>
        Assert.Equal(expected, RoundStep.AtLeast(value));
}
