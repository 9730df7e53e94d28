namespace ShadowProxy.Tests.Reliability;

/// <summary>Tests that run the built program: alone, so that their timings and /proc figures are not another test's load.</summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class RealProcess
{
    public const string Collection = "real process";
}
