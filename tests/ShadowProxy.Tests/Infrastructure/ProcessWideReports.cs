namespace ShadowProxy.Tests.Infrastructure;

/// <summary>
/// Tests that throw into, or listen to, a report the proxy server sets for the whole process
/// (<c>EventLoop.HandlerFailed</c>, <c>DescriptorHeadroom.Short</c>): alone, since any other test's server made or
/// running meanwhile takes that report, and would count what these tests cause as its own failure, or say their
/// shortages to its logger.
/// </summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class ProcessWideReports
{
    public const string Collection = "process-wide reports";
}
