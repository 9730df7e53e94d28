using ShadowProxy.Http;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// Whether production is still taking the request body after the proxy's writes are done. A write completes once the
/// kernel has buffered the bytes (the socket's send buffer and production's receive buffer: megabytes), so a
/// production that reads a large upload slowly but steadily, or behind a slow link, is still busy with it long after
/// the last write, with nothing for the proxy to see but its unacknowledged bytes (SIOCOUTQ) going down.
/// Bytes are counted as taken when production's side acknowledges them, which a full receive buffer stops until
/// production reads. When they were taken shows only at a look, so while bytes wait the production timer looks every
/// <see cref="LooksPerTimeout"/>th of its timeout: a look a whole timeout after the last write would count a take
/// just after that write as a moment ago, and a production silent since then would get its 504 a timeout late.
/// </summary>
internal sealed class ProductionIntake
{
    /// <summary>A silence after the last take is noticed up to this fraction of the timeout late.</summary>
    public const int LooksPerTimeout = 8;

    private const int Unknown = -1;

    private readonly LoopSocket _socket;
    private readonly InactivityTimer _timer;
    private readonly TimeSpan _lookEvery;
    private volatile int _queuedAtProgress = Unknown;   // unacknowledged bytes when production last made progress
    private long _progressAt = long.MinValue / 2;   // then (Environment.TickCount64 ms); none yet: the timer's start decides

    public ProductionIntake(LoopSocket socket, InactivityTimer timer)
    {
        _socket = socket;
        _timer = timer;
        long timeout = timer.TimeoutMilliseconds;
        _lookEvery = TimeSpan.FromMilliseconds(Math.Min(Math.Max(timeout / LooksPerTimeout, TimeoutSweeper.TickMilliseconds), timeout));
    }

    /// <summary>
    /// Whether the body can reach <see cref="RequestBodyPump.ProgressBytes"/>, the first point at which an intake looks:
    /// a smaller one would allocate it and its three delegates per request for nothing (a POST of a form, of JSON).
    /// </summary>
    public static bool IsUseful(in RequestHead request) =>
        request.Body == BodyKind.Chunked || (request.Body == BodyKind.ContentLength && request.ContentLength >= RequestBodyPump.ProgressBytes);

    /// <summary>The pump wrote another <see cref="RequestBodyPump.ProgressBytes"/>: production's silence counts from here.</summary>
    public void BodyWritten()
    {
        int queued = _socket.UnacknowledgedBytes();
        Volatile.Write(ref _progressAt, Environment.TickCount64);   // before the timer's own clock read: never later than its start
        _queuedAtProgress = queued;
        if (queued > 0)
        {
            _timer.Restart(_lookEvery);   // not a deadline: the first look (NextDeadline)
        }
        else
        {
            _timer.Start();
        }
    }

    /// <summary>Production sent part of its answer: its timer restarts, and the body's backlog no longer tells anything.</summary>
    public void AnswerRead()
    {
        Volatile.Write(ref _progressAt, Environment.TickCount64);
        _queuedAtProgress = Unknown;
        _timer.Start();
    }

    /// <summary>
    /// The timer's look (<see cref="InactivityTimer.StillBusy"/>): production made progress if it acknowledged another
    /// <see cref="RequestBodyPump.ProgressBytes"/> (or all that was waiting) since its last progress, the minimum rate
    /// that a body the proxy writes must keep to restart the timeout, here measured where production takes it.
    /// Returns when to look again, or the end of production's timeout; 0 once that has passed.
    /// </summary>
    public long NextDeadline(long now)
    {
        int before = _queuedAtProgress;
        int queued = _socket.UnacknowledgedBytes();
        if (before > 0 && before - queued >= Math.Min(RequestBodyPump.ProgressBytes, before))
        {
            _queuedAtProgress = queued;
            Volatile.Write(ref _progressAt, now);   // taken since the last look, at most one look ago
        }

        long silentUntil = Volatile.Read(ref _progressAt) + _timer.TimeoutMilliseconds;
        if (silentUntil <= now)
        {
            return 0;
        }

        // Nothing left waiting: nothing more to take, and the timeout's end is the next thing to see.
        return queued > 0 ? Math.Min(now + (long)_lookEvery.TotalMilliseconds, silentUntil) : silentUntil;
    }
}
