using ShadowProxy.Hosting;

namespace ShadowProxy.Tests.Hosting;

public sealed class RuntimeTuningTests
{
    [Fact]
    public void The_program_asks_for_a_larger_buffer_pool()
    {
        var environment = new Dictionary<string, string>();
        RuntimeTuning.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("512", environment[RuntimeTuning.PooledArraysPerSize]);
        // What this test run has (runtime-tuning.runsettings) is what the program sets.
        foreach ((string name, string value) in environment)
        {
            Assert.Equal(value, Environment.GetEnvironmentVariable(name));
        }
    }

    [Fact]
    public void An_operator_setting_in_the_environment_wins()
    {
        var environment = new Dictionary<string, string> { [RuntimeTuning.PooledArraysPerSize] = "64" };
        RuntimeTuning.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("64", environment[RuntimeTuning.PooledArraysPerSize]);
    }
}
