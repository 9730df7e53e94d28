using System.Collections.Concurrent;
using System.Net;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// Idle keep-alive connections to one backend, so that a busy box does not open two backend connections per request.
/// Connections idle longer than the idle timeout are closed (lazily on rent, and by a periodic sweep); one that the
/// backend has closed is noticed before use. With reuse off, every rent is a new connection and every return closes it.
/// </summary>
internal sealed class BackendPool : IAsyncDisposable
{
    /// <summary>
    /// Sweeps per idle timeout. Once per timeout would close a connection up to a whole timeout late (4 s idle becomes
    /// up to 8 s, past Apache's 5 s); this many keep it within an eighth of it.
    /// </summary>
    private const int SweepsPerIdleTimeout = 8;

    private readonly IPEndPoint _endpoint;
    private readonly TimeSpan _idleTimeout;
    private readonly int _maxIdle;
    private readonly TimeProvider _time;
    private readonly ConcurrentStack<BackendLink> _idle = new();
    private readonly ITimer? _sweeper;
    private int _idleCount;

    public BackendPool(IPEndPoint endpoint, bool reuse, TimeSpan idleTimeout, int maxIdle, TimeProvider time)
    {
        _endpoint = endpoint;
        _idleTimeout = idleTimeout;
        _maxIdle = reuse ? maxIdle : 0;
        _time = time;
        TimeSpan sweepEvery = idleTimeout / SweepsPerIdleTimeout;
        _sweeper = reuse ? time.CreateTimer(static state => ((BackendPool)state!).Sweep(), this, sweepEvery, sweepEvery) : null;
    }

    public IPEndPoint EndPoint => _endpoint;

    public bool Reuses => _maxIdle > 0;

    /// <summary>Idle connections right now.</summary>
    public int IdleCount => Volatile.Read(ref _idleCount);

    /// <summary>A usable idle connection if there is one, else a new one (which may throw the connect's exception).</summary>
    public async ValueTask<BackendLink> RentAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();   // an exchange already given up must not use up an idle connection
        while (_idle.TryPop(out BackendLink? idle))
        {
            Interlocked.Decrement(ref _idleCount);
            if (_time.GetElapsedTime(idle.IdleSince) < _idleTimeout && idle.LooksUsable())
            {
                return idle.Reuse();
            }

            await idle.DisposeAsync().ConfigureAwait(false);
        }

        LoopSocket socket = LoopSocket.Open(_endpoint);
        try
        {
            await socket.ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new BackendLink(socket);
    }

    /// <summary>Keeps the connection for another request when it is reusable and the pool has room; closes it otherwise.</summary>
    public async ValueTask ReturnAsync(BackendLink link, bool reusable)
    {
        if (reusable && Interlocked.Increment(ref _idleCount) <= _maxIdle)
        {
            link.IdleSince = _time.GetTimestamp();
            _idle.Push(link);
            return;
        }

        if (reusable)
        {
            Interlocked.Decrement(ref _idleCount);
        }

        await link.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _sweeper?.Dispose();
        while (_idle.TryPop(out BackendLink? idle))
        {
            Interlocked.Decrement(ref _idleCount);
            await idle.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes connections idle past the timeout, so that they do not sit open until the next burst.</summary>
    private void Sweep()
    {
        var fresh = new List<BackendLink>();
        while (_idle.TryPop(out BackendLink? idle))
        {
            if (_time.GetElapsedTime(idle.IdleSince) < _idleTimeout && idle.LooksUsable())
            {
                fresh.Add(idle);
                continue;
            }

            Interlocked.Decrement(ref _idleCount);
            _ = idle.DisposeAsync().AsTask();
        }

        for (int i = fresh.Count - 1; i >= 0; i--)
        {
            _idle.Push(fresh[i]);   // most recently used stays on top
        }
    }
}
