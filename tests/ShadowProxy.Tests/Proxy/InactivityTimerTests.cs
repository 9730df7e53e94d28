using System.Diagnostics;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Proxy;

/// <summary>
/// The inactivity timer on the shared sweeper: it fires once its deadline passes, a restart moves the deadline, a
/// stop holds it, the parent's cancellation reaches it, a disposed timer is never fired, and a deadline earlier than
/// the sweeper's next walk brings the walk forward. Bounds are generous:
/// the sweeper fires a timer up to a tick late, and the test host may be busy.
/// </summary>
public sealed class InactivityTimerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task It_fires_after_its_timeout_and_not_before()
    {
        using var timer = new InactivityTimer(TimeSpan.FromMilliseconds(300), CancellationToken.None);
        var clock = Stopwatch.StartNew();
        timer.Start();

        await WhenCancelledAsync(timer.Token);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(290), $"fired after {clock.Elapsed}");
        Assert.True(timer.HasFired);
    }

    [Fact]
    public async Task Restarting_moves_the_deadline_and_stopping_holds_it()
    {
        using var timer = new InactivityTimer(TimeSpan.FromSeconds(30), CancellationToken.None);
        timer.Start();
        long first = timer.Deadline;
        Assert.InRange(first - Environment.TickCount64, 29_000, 30_000);

        await Task.Delay(50);
        timer.Start();   // progress: the peer spoke within the timeout
        Assert.True(timer.Deadline > first, "a restart moves the deadline on");

        timer.Stop();
        Assert.Equal(long.MaxValue, timer.Deadline);
        await Task.Delay(3 * TimeoutSweeper.TickMilliseconds);
        Assert.False(timer.HasFired, "stopped, it must not fire");

        timer.Restart(TimeSpan.FromMilliseconds(100));
        await WhenCancelledAsync(timer.Token);
        Assert.True(timer.HasFired);
    }

    [Fact]
    public async Task The_parents_cancellation_and_an_explicit_cancel_reach_the_token()
    {
        using var parent = new CancellationTokenSource();
        using var linked = new InactivityTimer(Timeout.InfiniteTimeSpan, parent.Token);
        using var cancelled = new InactivityTimer(TimeSpan.FromHours(1), CancellationToken.None);
        linked.Start();
        cancelled.Start();

        await parent.CancelAsync();
        cancelled.Cancel();
        Assert.True(linked.HasFired);
        Assert.True(cancelled.HasFired);
        cancelled.Start();   // a fired timer stays fired
        Assert.True(cancelled.HasFired);
    }

    [Fact]
    public async Task A_timer_disposed_before_its_deadline_is_never_fired_and_others_still_are()
    {
        var disposed = new InactivityTimer(TimeSpan.FromMilliseconds(50), CancellationToken.None);
        CancellationToken token = disposed.Token;
        disposed.Start();
        disposed.Dispose();
        using var live = new InactivityTimer(TimeSpan.FromMilliseconds(150), CancellationToken.None);
        live.Start();

        await WhenCancelledAsync(live.Token);
        Assert.False(token.IsCancellationRequested);
    }

    [Fact]
    public async Task A_timer_restarted_after_the_sweep_found_it_due_does_not_fire()
    {
        // The sweep lists both as due, then cancels them one by one, each running its waiters inline; the second one's
        // peer speaks (a restart) while the first one's waiters run. Listed first: the one added last.
        using var restarted = new InactivityTimer(TimeSpan.FromSeconds(30), CancellationToken.None);
        using var firing = new InactivityTimer(TimeSpan.FromSeconds(30), CancellationToken.None);
        using var inWaiters = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        using CancellationTokenRegistration waiter = firing.Token.UnsafeRegister(_ => { inWaiters.Set(); release.Wait(Patience); }, null);
        restarted.Restart(TimeSpan.FromMilliseconds(1));
        firing.Restart(TimeSpan.FromMilliseconds(1));

        Assert.True(inWaiters.Wait(Patience));
        restarted.Restart(TimeSpan.FromSeconds(30));
        release.Set();
        await Task.Delay(4 * TimeoutSweeper.TickMilliseconds);

        Assert.True(firing.HasFired);
        Assert.False(restarted.HasFired, "fired with its deadline moved 30 s away");
    }

    [Fact]
    public async Task A_deadline_earlier_than_every_other_live_one_still_fires_on_time()
    {
        // The sweeper walks its timers only once the earliest deadline it knows of has come: an hour away here,
        // until the short timer's start lowers it.
        using var distant = new InactivityTimer(TimeSpan.FromHours(1), CancellationToken.None);
        distant.Start();
        await Task.Delay(3 * TimeoutSweeper.TickMilliseconds);
        using var soon = new InactivityTimer(TimeSpan.FromMilliseconds(100), CancellationToken.None);
        soon.Start();

        await WhenCancelledAsync(soon.Token);
        Assert.False(distant.HasFired);
    }

    [Fact]
    public async Task A_timer_restarted_with_a_shorter_timeout_fires_by_the_new_deadline()
    {
        // As the production timer does when it waits for a connect: its connect timeout is shorter than the exchange's.
        using var timer = new InactivityTimer(TimeSpan.FromHours(1), CancellationToken.None);
        timer.Start();
        await Task.Delay(3 * TimeoutSweeper.TickMilliseconds);

        timer.Restart(TimeSpan.FromMilliseconds(100));
        await WhenCancelledAsync(timer.Token);
        Assert.True(timer.HasFired);
    }

    [Fact]
    public async Task A_timer_due_in_the_same_sweep_as_one_whose_waiters_block_still_fires_within_a_few_ticks()
    {
        // Both due in one sweep; the sweep expires them one by one on its own thread, and the first one's waiter
        // blocks (a continuation doing slow synchronous work). No other deadline is ahead, so no other sweep is armed.
        using var distant = new InactivityTimer(TimeSpan.FromHours(1), CancellationToken.None);
        distant.Start();
        using var second = new InactivityTimer(TimeSpan.FromSeconds(30), CancellationToken.None);
        using var blocking = new InactivityTimer(TimeSpan.FromSeconds(30), CancellationToken.None);   // listed first
        using var release = new ManualResetEventSlim();
        using CancellationTokenRegistration waiter = blocking.Token.UnsafeRegister(_ => release.Wait(TimeSpan.FromSeconds(10)), null);
        second.Restart(TimeSpan.FromMilliseconds(1));
        blocking.Restart(TimeSpan.FromMilliseconds(1));
        var clock = Stopwatch.StartNew();

        while (!blocking.HasFired && clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(5);
        }

        await Task.Delay(10 * TimeoutSweeper.TickMilliseconds);
        bool secondFired = second.HasFired;
        release.Set();
        Assert.True(secondFired, "stranded behind the blocked expiry: no sweep armed for it");
    }

    [Fact]
    public async Task A_timeout_longer_than_a_runtime_timer_takes_neither_throws_nor_stops_the_others()
    {
        // 60 days: past the 49.7 days a runtime timer can be set for. The sweep that fires the short timer arms for it.
        using var distant = new InactivityTimer(TimeSpan.FromDays(60), CancellationToken.None);
        distant.Start();
        using var soon = new InactivityTimer(TimeSpan.FromMilliseconds(50), CancellationToken.None);
        soon.Start();

        await WhenCancelledAsync(soon.Token);
        await Task.Delay(3 * TimeoutSweeper.TickMilliseconds);
        Assert.False(distant.HasFired);
    }

    private static Task WhenCancelledAsync(CancellationToken token) =>
        Task.Delay(Timeout.Infinite, token).ContinueWith(static _ => { }, TaskScheduler.Default).WaitAsync(Patience, CancellationToken.None);
}
