using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Transport;

/// <summary>How shadow copies go to the shadow's own loop: while it has room, and past that not at all.</summary>
public sealed class LoopHandOverTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>A loop of these tests' own, so that what runs on it is theirs.</summary>
    private static readonly Lazy<EventLoop> Loop = new(() => new EventLoop("hand-over tests"));

    [Fact]
    public async Task Past_the_bound_work_stays_where_it_is_until_a_piece_on_the_loop_leaves()
    {
        EventLoop loop = Loop.Value;
        var handOver = new LoopHandOver(loop, bound: 2);

        Assert.Same(loop, await RunAsync(handOver, expectEntered: true));
        Assert.Same(loop, await RunAsync(handOver, expectEntered: true));
        Assert.Null(await RunAsync(handOver, expectEntered: false));   // full: it ran where it was, on the test's thread
        Assert.Equal(2, handOver.Count);

        handOver.Leave();
        Assert.Equal(1, handOver.Count);
        Assert.Same(loop, await RunAsync(handOver, expectEntered: true));
        Assert.Equal(2, handOver.Count);
    }

    [Fact]
    public async Task Without_a_loop_nothing_is_handed_over_or_counted()
    {
        var handOver = new LoopHandOver(loop: null, bound: 2);

        for (int i = 0; i < 3; i++)
        {
            Assert.Null(await RunAsync(handOver, expectEntered: false));
        }

        Assert.Equal(0, handOver.Count);
    }

    /// <summary>Enters, hops, and says which loop it continued on (off the loop's thread to start with).</summary>
    private static Task<EventLoop?> RunAsync(LoopHandOver handOver, bool expectEntered) =>
        Task.Run(async () =>
        {
            LoopHop hop = handOver.Enter(out bool entered);
            Assert.Equal(expectEntered, entered);
            Assert.Equal(!expectEntered, hop.IsCompleted);
            await hop;
            return EventLoop.Current;
        }).WaitAsync(Patience);
}
