using System.Collections.Concurrent;
using System.Net;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// Idle keep-alive connections to one backend, so that a busy box does not open two backend connections per request.
/// Connections idle longer than the idle timeout are closed (lazily on rent, and by a periodic sweep); one that the
/// backend has closed is noticed before use. With reuse off, every rent is a new connection and every return closes it.
/// Idle connections are kept by the event loop they belong to, and a rent takes one of its own loop's first: a
/// connection's waits end on its loop, so one taken from another loop would carry the rest of the exchange there (a
/// shadow copy handed to the shadow's loop would continue on the clients'; bench/README.md, fifteenth round).
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
    private readonly ConcurrentStack<BackendLink>[] _idleByLoop;   // by EventLoop.Number, modulo its length
    private readonly ITimer? _sweeper;
    private int _idleCount;

    /// <param name="loops">How many loops' idle connections are kept apart (<see cref="EventLoops.Count"/>); loops
    /// beyond it share.</param>
    public BackendPool(IPEndPoint endpoint, bool reuse, TimeSpan idleTimeout, int maxIdle, TimeProvider time, int loops)
    {
        _endpoint = endpoint;
        _idleTimeout = idleTimeout;
        _maxIdle = reuse ? maxIdle : 0;
        _time = time;
        _idleByLoop = new ConcurrentStack<BackendLink>[Math.Max(loops, 1)];
        for (int i = 0; i < _idleByLoop.Length; i++)
        {
            _idleByLoop[i] = new ConcurrentStack<BackendLink>();
        }

        TimeSpan sweepEvery = idleTimeout / SweepsPerIdleTimeout;
        _sweeper = reuse ? time.CreateTimer(static state => ((BackendPool)state!).Sweep(), this, sweepEvery, sweepEvery) : null;
    }

    public IPEndPoint EndPoint => _endpoint;

    public bool Reuses => _maxIdle > 0;

    /// <summary>Idle connections right now.</summary>
    public int IdleCount => Volatile.Read(ref _idleCount);

    /// <summary>
    /// A usable idle connection if there is one, else a new one. <paramref name="connected"/> completes when it can
    /// carry a request: at once for an idle one; a new one's connect may fail with the connect's exception, and the
    /// caller returns the link (<see cref="ReturnAsync"/>) either way. The caller awaits the connect in its own async
    /// method, so that a connection costs no state machine of the pool's own.
    /// </summary>
    public BackendLink Rent(CancellationToken cancellationToken, out ValueTask connected)
    {
        cancellationToken.ThrowIfCancellationRequested();   // an exchange already given up must not use up an idle connection
        if (Volatile.Read(ref _idleCount) > 0)
        {
            // The caller's loop's own first; another loop's only when it has none, as that still saves a connect.
            int own = StackOf(EventLoop.Current);
            for (int i = 0; i < _idleByLoop.Length; i++)
            {
                if (TakeUsable(_idleByLoop[(own + i) % _idleByLoop.Length]) is { } idle)
                {
                    connected = ValueTask.CompletedTask;
                    return idle.Reuse();
                }
            }
        }

        var link = new BackendLink(LoopSocket.Open(_endpoint));
        connected = link.Socket.ConnectAsync(cancellationToken);
        return link;
    }

    /// <summary>Keeps the connection for another request when it is reusable and the pool has room; closes it otherwise.</summary>
    public async ValueTask ReturnAsync(BackendLink link, bool reusable)
    {
        if (reusable && Interlocked.Increment(ref _idleCount) <= _maxIdle)
        {
            link.IdleSince = _time.GetTimestamp();
            _idleByLoop[StackOf(link.Socket.Loop)].Push(link);
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
        foreach (ConcurrentStack<BackendLink> idleOfLoop in _idleByLoop)
        {
            while (idleOfLoop.TryPop(out BackendLink? idle))
            {
                Interlocked.Decrement(ref _idleCount);
                idle.Dispose();
            }
        }
    }

    private int StackOf(EventLoop? loop) => loop is null ? 0 : loop.Number % _idleByLoop.Length;

    /// <summary>The most recently returned usable connection of these; stale ones met on the way are closed.</summary>
    private BackendLink? TakeUsable(ConcurrentStack<BackendLink> idleOfLoop)
    {
        while (idleOfLoop.TryPop(out BackendLink? idle))
        {
            Interlocked.Decrement(ref _idleCount);
            if (IsFresh(idle))
            {
                return idle;
            }

            idle.Dispose();
        }

        return null;
    }

    private bool IsFresh(BackendLink idle) => _time.GetElapsedTime(idle.IdleSince) < _idleTimeout && idle.LooksUsable();

    /// <summary>Closes connections idle past the timeout, so that they do not sit open until the next burst.</summary>
    private void Sweep()
    {
        var fresh = new List<BackendLink>();
        foreach (ConcurrentStack<BackendLink> idleOfLoop in _idleByLoop)
        {
            while (idleOfLoop.TryPop(out BackendLink? idle))
            {
                if (IsFresh(idle))
                {
                    fresh.Add(idle);
                    continue;
                }

                Interlocked.Decrement(ref _idleCount);
                idle.Dispose();
            }

            for (int i = fresh.Count - 1; i >= 0; i--)
            {
                idleOfLoop.Push(fresh[i]);   // most recently used stays on top
            }

            fresh.Clear();
        }
    }
}
