using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

/// <summary>The idle pool against a real backend, on a clock the test moves: when an idle connection is closed, exactly.</summary>
public sealed class BackendPoolTests
{
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
        await using var pool = new BackendPool(backend.EndPoint, reuse: true, idleTimeout, maxIdle: 8, clock);
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
}
