using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Transport;

/// <summary>Work handed to an event loop from another thread (how a shadow copy moves to the shadow's own loop).</summary>
public sealed class EventLoopPostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static readonly System.Collections.Concurrent.ConcurrentQueue<Exception> Failures = new();

    /// <summary>
    /// A loop of these tests' own: no socket of any other test wakes it, so only a post can. What its work throws is
    /// reported here, not to the process-wide handler, which a proxy of another test running meanwhile would log.
    /// </summary>
    private static readonly Lazy<EventLoop> Loop = new(() => new EventLoop("post tests", Failures.Enqueue));

    [Fact]
    public async Task Work_posted_to_a_loop_waiting_for_events_wakes_it_and_runs_on_its_thread_in_the_order_posted()
    {
        EventLoop loop = Loop.Value;
        const int Count = 200;
        var ran = new List<(int Index, EventLoop? On)>(Count);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // From a thread-pool thread, in bursts with pauses between them: a pause lets the loop go back to waiting in
        // epoll_wait, where only the wake-up gets it out (no socket event is coming).
        await Task.Run(async () =>
        {
            for (int i = 0; i < Count; i++)
            {
                int index = i;
                loop.Post(() =>
                {
                    ran.Add((index, EventLoop.Current));   // one thread runs them all: no lock needed
                    if (index == Count - 1)
                    {
                        done.SetResult();
                    }
                });
                if (i % 50 == 49)
                {
                    await Task.Delay(20);
                }
            }
        });

        await done.Task.WaitAsync(Patience);
        Assert.Equal(Enumerable.Range(0, Count), ran.Select(entry => entry.Index));
        Assert.All(ran, entry => Assert.Same(loop, entry.On));
    }

    [Fact]
    public async Task A_single_post_after_the_loop_has_gone_back_to_waiting_still_runs()
    {
        EventLoop loop = Loop.Value;
        for (int round = 0; round < 20; round++)
        {
            await Task.Delay(5);   // the loop is back in epoll_wait with nothing to do
            var ran = new TaskCompletionSource<EventLoop?>(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Post(() => ran.SetResult(EventLoop.Current));
            Assert.Same(loop, await ran.Task.WaitAsync(Patience));
        }
    }

    [Fact]
    public async Task Posted_work_that_throws_does_not_end_the_loop_and_the_next_work_still_runs()
    {
        EventLoop loop = Loop.Value;
        var ran = new TaskCompletionSource<EventLoop?>(TaskCreationOptions.RunContinuationsAsynchronously);

        // Escaping the loop's thread, the exception would end the process (here, the test run).
        loop.Post(() => throw new InvalidOperationException("a test's posted work that fails"));
        loop.Post(() => ran.SetResult(EventLoop.Current));

        Assert.Same(loop, await ran.Task.WaitAsync(Patience));
        Assert.Contains(Failures, failure => failure.Message == "a test's posted work that fails");
    }

    [Fact]
    public async Task Awaiting_a_hop_continues_on_its_loop_and_once_there_stays()
    {
        EventLoop loop = Loop.Value;
        Assert.False(new LoopHop(loop).IsCompleted);

        (EventLoop? after, bool stays) = await HopAsync(loop).WaitAsync(Patience);

        Assert.Same(loop, after);
        Assert.True(stays, "on the loop already, a hop has nowhere to go");

        static async Task<(EventLoop?, bool)> HopAsync(EventLoop target)
        {
            await new LoopHop(target);
            return (EventLoop.Current, new LoopHop(target).IsCompleted);
        }
    }

    [Fact]
    public async Task Without_a_loop_to_go_to_the_hop_continues_at_once_on_the_same_thread()
    {
        int thread = Environment.CurrentManagedThreadId;
        var hop = new LoopHop(null);
        Assert.True(hop.IsCompleted);

        await hop;

        Assert.Equal(thread, Environment.CurrentManagedThreadId);
    }
}
