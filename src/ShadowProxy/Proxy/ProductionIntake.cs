using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// Whether production is still taking the request body after the proxy's writes are done. A write completes once the
/// kernel has buffered the bytes (the socket's send buffer and production's receive buffer: megabytes), so a
/// production that reads a large upload slowly but steadily, or behind a slow link, is still busy with it long after
/// the last write, with nothing for the proxy to see but its unacknowledged bytes (SIOCOUTQ) going down.
/// Its production timer asks <see cref="TookMore"/> when it falls due; bytes are counted as taken when production's
/// side acknowledges them, which a full receive buffer stops until production reads.
/// </summary>
internal sealed class ProductionIntake(LoopSocket socket, InactivityTimer timer)
{
    private const int Unknown = -1;

    private volatile int _queuedAtLook = Unknown;

    /// <summary>The pump wrote another <see cref="RequestBodyPump.ProgressBytes"/>: production's timer restarts from here.</summary>
    public void BodyWritten()
    {
        timer.Start();
        _queuedAtLook = socket.UnacknowledgedBytes();
    }

    /// <summary>Production sent part of its answer: its timer restarts, and the body's backlog no longer tells anything.</summary>
    public void AnswerRead()
    {
        timer.Start();
        _queuedAtLook = Unknown;
    }

    /// <summary>
    /// Production acknowledged another <see cref="RequestBodyPump.ProgressBytes"/> (or all that was waiting) since the
    /// last look: the minimum rate that a body the proxy writes must keep to restart the timeout, here measured where
    /// production takes it.
    /// </summary>
    public bool TookMore()
    {
        int before = _queuedAtLook;
        int now = socket.UnacknowledgedBytes();
        _queuedAtLook = now;
        return before > 0 && before - now >= Math.Min(RequestBodyPump.ProgressBytes, before);
    }
}
