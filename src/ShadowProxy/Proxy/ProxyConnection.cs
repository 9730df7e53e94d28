using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using ShadowProxy.Http;
using ShadowProxy.Logging;
using ShadowProxy.Mirroring;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// One client connection: reads each request head within the limits, hands it to a <see cref="RequestExchange"/>,
/// and keeps the connection open across requests while both the client and production's framing allow it.
/// </summary>
internal sealed class ProxyConnection
{
    private const int ReadBufferBytes = 8 * 1024;
    private const int MinimumReadBytes = 2 * 1024;

    /// <summary>After a last answer to a client that may still send: how much to read away at most before closing (and see <see cref="ProxyOptions.LingerTime"/>).</summary>
    private const int LingerBytes = 1024 * 1024;

    private readonly LoopSocket _socket;
    private readonly ProxyOptions _options;
    private readonly IRequestLineSink _sink;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly EndPoint? _remote;
    private readonly BackendPools _pools;
    private readonly ShadowLauncher _shadows;
    private List<Task>? _pendingLines;

    public ProxyConnection(
        LoopSocket socket, BackendPools pools, ShadowLauncher shadows, ProxyOptions options, IRequestLineSink sink, ILogger logger, TimeProvider time)
    {
        _pools = pools;
        _shadows = shadows;
        _socket = socket;
        _options = options;
        _sink = sink;
        _logger = logger;
        _time = time;
        _remote = socket.RemoteEndPoint;
    }

    /// <param name="clientClosed">
    /// Called once the client's socket is closed, before the request lines that still wait for their shadows: what
    /// counts against --max-connections is the client's connection, not a slow shadow's answer.
    /// </param>
    /// <param name="shutdown">The proxy is stopping: finish the request in flight, start no new one.</param>
    /// <param name="abort">The drain timeout passed: cut everything.</param>
    public async Task RunAsync(Action clientClosed, CancellationToken shutdown, CancellationToken abort)
    {
        var stream = new LoopSocketStream(_socket);   // LingeringClose closes the socket
        PipeReader input = new LoopSocketReader(_socket, ReadBufferBytes, MinimumReadBytes);
        // Rented per request at the head's own size (MessageHeadReader's growFrom) and given back when the request is
        // done: a kept-alive connection waiting for its next request holds no head buffer.
        byte[] head = [];
        using var clientTimer = new InactivityTimer(_options.ClientTimeout, abort);
        bool drainBeforeClose = false;
        bool resetClient = false;
        long unreadBody = 0;
        try
        {
            Action startHeadTimeout = clientTimer.Start;
            bool keepAlive = true;
            for (bool first = true; keepAlive && !(shutdown.IsCancellationRequested && !first); first = false)
            {
                // Between requests the client may idle up to the keep-alive timeout; once a head starts, the client timeout applies.
                clientTimer.Restart(first ? _options.ClientTimeout : _options.KeepAliveTimeout);
                // On shutdown the wait stops while nothing of a head has arrived, on the first request as on later ones:
                // a connection with no request in flight (a pre-connect, an idle keep-alive) would otherwise hold the
                // drain until its timeout. A head that has begun is read to its end (MessageHeadReader).
                HeadRead read;
                using (shutdown.Register(static state => ((PipeReader)state!).CancelPendingRead(), input))
                {
                    read = await MessageHeadReader.ReadAsync(
                        input, head, _options.MaxRequestHeadBytes, _time, clientTimer.Token, startHeadTimeout, ArrayPool<byte>.Shared)
                        .ConfigureAwait(false);
                }

                if (read.Status == HeadReadStatus.Complete && shutdown.IsCancellationRequested && input.TryRead(out ReadResult stale))
                {
                    // The stop's cancel may have come after the head's last read: it would cancel the body's first read.
                    // TryRead takes it; nothing is consumed or examined.
                    input.AdvanceTo(stale.Buffer.Start);
                }

                if (read.Status == HeadReadStatus.ClientClosed && shutdown.IsCancellationRequested && !_socket.IsIdleAndOpen())
                {
                    // The stop's cancel came just as bytes did (a client accepted as the listener closed): they are a
                    // request in flight, or the client's close; read them without the cancel.
                    read = await MessageHeadReader.ReadAsync(
                        input, head, _options.MaxRequestHeadBytes, _time, clientTimer.Token, startHeadTimeout, ArrayPool<byte>.Shared)
                        .ConfigureAwait(false);
                }

                if (read.Grown is { } grown)
                {
                    head = grown;
                }

                clientTimer.Stop();
                if (read.Status != HeadReadStatus.Complete)
                {
                    drainBeforeClose = await RejectAsync(stream, read.Status).ConfigureAwait(false);
                    break;
                }

                if (!RequestHeadParser.TryParse(head.AsSpan(0, read.Length), out RequestHead request))
                {
                    drainBeforeClose = await RejectAsync(stream, HeadReadStatus.Malformed).ConfigureAwait(false);
                    break;
                }

                bool tunnel = RequestExchange.IsTunnel(request);
                // Sized to this head, not to the limit: a small rental the shared pool keeps.
                byte[] rewritten = ArrayPool<byte>.Shared.Rent(read.Length + HeadRewriter.MaxGrowth);
                (ShadowExchange? Shadow, ShadowSkip Skip, MirrorPolicy Policy) mirror;
                ExchangeResult result;
                try
                {
                    int length = HeadRewriter.Rewrite(
                        head.AsSpan(0, read.Length),
                        request.IsUpgrade ? HeadRewriter.ConnectionUpgrade
                            : request.IsConnect ? default   // a CONNECT's connection becomes the tunnel: neither close nor keep-alive describes it
                            : _options.BackendKeepAlive ? HeadRewriter.ConnectionKeepAlive
                            : HeadRewriter.ConnectionClose,
                        rewritten);
                    mirror = _shadows.Launch(
                        request, head.AsSpan(0, read.Length), rewritten.AsSpan(0, length), tunnel, read.FirstByteTimestamp, abort);
                    var exchange = new RequestExchange(request, stream, input, _pools, _options, _time, _logger, _remote);
                    result = await exchange.RunAsync(
                        rewritten.AsMemory(0, length), mirror.Shadow, read.FirstByteTimestamp, clientTimer, shutdown, abort).ConfigureAwait(false);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(rewritten);
                    MessageHeadReader.ReturnScratch(ref head, ArrayPool<byte>.Shared);
                }

                keepAlive = result.KeepClientOpen;
                resetClient = result.ResetClient;
                unreadBody = result.UnreadBodyLength;
                // A client may pipeline more behind this request: closing over bytes it sent makes the kernel reset the
                // connection, dropping what of the answer is still queued (RFC 9112 §9.6). A client that did not say
                // close may send them at any moment, also just after a look at the socket found none, and until it has
                // read the answer's end: its connection always gets a lingering close. One that said close sends nothing
                // after it, so only bytes already read (a request pipelined against the rule) are looked for.
                bool lastRequest = !keepAlive || shutdown.IsCancellationRequested;
                drainBeforeClose = result.RequestUnread || (lastRequest && (!request.ClientWantsClose || HasBufferedBytes(input)));
                if (!mirror.Policy.Exclude.Contains(request.Path))
                {
                    // The line waits for the shadow; the client does not.
                    TrackLine(WriteLineWhenShadowDoneAsync(result, mirror.Skip, mirror.Shadow));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Timed out or aborted: the connection is closed below.
        }
        catch (IOException)
        {
            // The client went away.
        }
        catch (Exception ex)
        {
            _logger.ConnectionFailed(ex);
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
            if (resetClient)
            {
                // Production cut an answer that only the close ends: the client must not take it for whole.
                await LingeringClose.ResetAsync(_socket, _options.LingerTime, abort).ConfigureAwait(false);
            }
            else
            {
                // The rest of a body the client announced is on its way before anything else it sends: reading only
                // 1 MiB of a larger one would close over the rest, and the reset would throw the answer away. The
                // linger's time still bounds it (a chunked body's rest is unknown: long.MaxValue).
                long lingerBytes = LingerBytes + Math.Min(unreadBody, long.MaxValue - LingerBytes);
                await LingeringClose.CloseAsync(_socket, drainBeforeClose, _options.LingerTime, lingerBytes, abort).ConfigureAwait(false);
            }
            MessageHeadReader.ReturnScratch(ref head, ArrayPool<byte>.Shared);
            clientClosed();
        }

        // The connection counts as in flight until its last request line is written, so that a drain loses none.
        if (_pendingLines is not null)
        {
            await Task.WhenAll(_pendingLines).ConfigureAwait(false);
        }
    }

    private void TrackLine(Task writing)
    {
        if (writing.IsCompleted)
        {
            return;
        }

        _pendingLines ??= [];
        if (_pendingLines.Count >= 16)
        {
            _pendingLines.RemoveAll(static task => task.IsCompleted);
        }

        _pendingLines.Add(writing);
    }

    private async Task WriteLineWhenShadowDoneAsync(ExchangeResult result, ShadowSkip skipped, ShadowExchange? exchange)
    {
        BackendResult shadow = exchange is null ? default : await exchange.Completion.ConfigureAwait(false);
        if (exchange is { BodyTooLarge: true })
        {
            (shadow, skipped) = (default, ShadowSkip.BodyTooLarge);
        }

        _sink.Write(result.Record with { Shadow = shadow, ShadowSkipped = skipped });
    }

    /// <summary>Whether the client has sent bytes that no request read and that are in the pipe already.</summary>
    private static bool HasBufferedBytes(PipeReader input)
    {
        if (!input.TryRead(out ReadResult buffered))
        {
            return false;
        }

        bool unread = !buffered.Buffer.IsEmpty;
        input.AdvanceTo(buffered.Buffer.Start);   // nothing consumed or examined
        return unread;
    }

    /// <returns>Whether unread request bytes may still be on their way (the close should let the answer arrive first).</returns>
    private async Task<bool> RejectAsync(LoopSocketStream stream, HeadReadStatus status)
    {
        ReadOnlyMemory<byte> answer = status switch
        {
            HeadReadStatus.Malformed => ErrorResponses.BadRequest,
            HeadReadStatus.TooLarge => ErrorResponses.HeaderFieldsTooLarge,
            _ => ReadOnlyMemory<byte>.Empty,   // closed, truncated or silent: nobody is waiting for an answer
        };
        if (answer.IsEmpty)
        {
            return false;
        }

        _logger.RequestRejected(_remote, status, status == HeadReadStatus.TooLarge ? 431 : 400);
        await stream.WriteAsync(answer).ConfigureAwait(false);
        return true;
    }
}
