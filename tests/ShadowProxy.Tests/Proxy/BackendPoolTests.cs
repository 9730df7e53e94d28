using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Proxy;

/// <summary>The idle pool against a real backend, on a clock the test moves: when an idle connection is closed, exactly.</summary>
public sealed class BackendPoolTests
{
    /// <summary>Two loops of these tests' own, so that which loop a connection belongs to is known.</summary>
    private static readonly Lazy<(EventLoop First, EventLoop Second)> Loops =
        new(() => (new EventLoop("pool tests 1"), new EventLoop("pool tests 2")));

    [Fact]
    public async Task An_idle_connection_is_closed_before_a_backend_with_a_slightly_longer_keep_alive_would_close_it()
    {
        // The defaults: 4 s against Apache's 5 s, so that the proxy closes first, whenever the connection went idle.
        TimeSpan idleTimeout = TimeSpan.FromSeconds(4);
        TimeSpan backendKeepAlive = TimeSpan.FromSeconds(5);
        var closedByProxy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var backend = LoopbackBackend.Start(async connection =>
        {
            await connection.WaitForCloseAsync();
            closedByProxy.TrySetResult();
        });
        var clock = new ManualTimeProvider();
        await using var pool = new BackendPool(backend.EndPoint, reuse: true, idleTimeout, maxIdle: 8, clock, loops: 1);
        BackendLink link = pool.Rent(CancellationToken.None, out ValueTask connected);
        await connected;
        // Idle from just after the pool's start: a sweep once per idle timeout would find it a moment too young.
        clock.Advance(TimeSpan.FromMilliseconds(100));
        await pool.ReturnAsync(link, reusable: true);

        clock.Advance(idleTimeout - TimeSpan.FromMilliseconds(1));
        int idleBeforeTimeout = pool.IdleCount;
        clock.Advance(backendKeepAlive - idleTimeout);   // idle 1 ms short of the backend's own timeout
        int idleBeforeBackendCloses = pool.IdleCount;

        Assert.Equal(1, idleBeforeTimeout);
        Assert.Equal(0, idleBeforeBackendCloses);
        await closedByProxy.Task.WaitAsync(TimeSpan.FromSeconds(10));   // and the backend saw it closed
    }

    [Fact]
    public async Task A_rent_takes_an_idle_connection_of_its_own_loop_first_and_another_loops_only_when_it_has_none()
    {
        (EventLoop first, EventLoop second) = Loops.Value;
        await using var backend = LoopbackBackend.Start(connection => connection.WaitForCloseAsync());
        // Room for every loop a test run makes, so that these two keep their connections apart.
        await using var pool = new BackendPool(backend.EndPoint, reuse: true, TimeSpan.FromMinutes(1), maxIdle: 8, TimeProvider.System, loops: 1024);

        BackendLink firstLoops = await RentOnAsync(pool, first);
        BackendLink secondLoops = await RentOnAsync(pool, second);
        Assert.Same(first, firstLoops.Socket.Loop);
        Assert.Same(second, secondLoops.Socket.Loop);
        await pool.ReturnAsync(firstLoops, reusable: true);
        await pool.ReturnAsync(secondLoops, reusable: true);   // the most recent: one stack for all would give it first

        BackendLink rentedOnFirst = await RentOnAsync(pool, first);
        BackendLink rentedOnFirstAgain = await RentOnAsync(pool, first);   // its own are gone: the second loop's saves a connect

        Assert.Same(firstLoops, rentedOnFirst);
        Assert.Same(secondLoops, rentedOnFirstAgain);
        Assert.Equal(0, pool.IdleCount);
        await pool.ReturnAsync(rentedOnFirst, reusable: false);
        await pool.ReturnAsync(rentedOnFirstAgain, reusable: false);
    }

    /// <summary>Rents on <paramref name="loop"/>'s thread, as an exchange running there does.</summary>
    private static async Task<BackendLink> RentOnAsync(BackendPool pool, EventLoop loop)
    {
        return await Task.Run(async () =>
        {
            await new LoopHop(loop);
            BackendLink link = pool.Rent(CancellationToken.None, out ValueTask connected);
            await connected;
            return link;
        }).WaitAsync(TimeSpan.FromSeconds(10));
    }
}
