namespace ShadowProxy.Tests.Reliability;

/// <summary>A test that runs only from bench/soak.sh (which sets SHADOWPROXY_SOAK_SECONDS): minutes long, so not in the default run.</summary>
public sealed class SoakFactAttribute : FactAttribute
{
    public SoakFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(SoakTests.SecondsVariable)))
        {
            Skip = "a soak: run bench/soak.sh";
        }
    }
}
