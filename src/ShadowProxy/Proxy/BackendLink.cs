using System.IO.Pipelines;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// One connection to a backend with its stream and response pipe: used for one request, then either returned to
/// its <see cref="BackendPool"/> (reuse on) or closed.
/// </summary>
internal sealed class BackendLink : IDisposable, IAsyncDisposable
{
    private const int ReadBufferBytes = 16 * 1024;
    private const int MinimumReadBytes = 4 * 1024;

    public BackendLink(LoopSocket socket)
    {
        Socket = socket;
        Stream = new LoopSocketStream(socket);
        Input = new LoopSocketReader(socket, ReadBufferBytes, MinimumReadBytes);
    }

    public LoopSocket Socket { get; }

    public LoopSocketStream Stream { get; }

    public PipeReader Input { get; }

    /// <summary>The connection served an earlier request: it may have been closed by the backend while idle.</summary>
    public bool Reused { get; private set; }

    /// <summary>When it was put back to idle (a TimeProvider timestamp).</summary>
    public long IdleSince { get; set; }

    /// <summary>
    /// Whether a request that this connection loses before any answer may be sent again on a new one: the connection
    /// was reused (the backend may have closed it while idle), this was the first try, and the request can be sent
    /// twice whole: no body (one already consumed cannot be replayed) and an idempotent method (RFC 9110 §9.2.2).
    /// </summary>
    public bool MayResend(int attempt, bool hasBody, bool idempotent) => Reused && attempt == 1 && !hasBody && idempotent;

    /// <summary>Marks the connection as taken from the idle pool for another request.</summary>
    public BackendLink Reuse()
    {
        Reused = true;
        return this;
    }

    /// <summary>An idle connection that the backend closed (or that has stray bytes) must not carry a request.</summary>
    public bool LooksUsable()
    {
        // Bytes past the last response that were read into the pipe already: the next answer would start with them.
        if (Input.TryRead(out ReadResult buffered))
        {
            Input.AdvanceTo(buffered.Buffer.Start);
            return false;
        }

        // Readable while idle means EOF, a reset, or bytes nobody asked for: none of them can carry a new request.
        return Socket.IsIdleAndOpen();
    }

    /// <summary>
    /// For a connection given up on because the backend went silent or stopped reading: if it left request bytes
    /// unacknowledged, the close becomes a reset. A FIN would queue behind those bytes, and the kernel would keep the
    /// closed socket for minutes, holding them (up to the send buffer, megabytes) and sending them again and again to
    /// a backend that may take them, and act on the request, long after the proxy logged it as failed.
    /// </summary>
    public void ResetIfUnacknowledged()
    {
        if (Socket.UnacknowledgedBytes() > 0)
        {
            Socket.Abort();
        }
    }

    public void Dispose()
    {
        Input.Complete();   // the socket's own reader: gives its buffer back, nothing to wait for
        Socket.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
