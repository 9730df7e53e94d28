using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace ShadowProxy.Proxy;

/// <summary>
/// The shadow's copy of one request. The client's bytes are queued here without waiting and sent from a task of
/// the shadow's own, so that a slow, dead or misbehaving shadow can never hold up production: when the queue
/// outgrows its bound, or the shadow's timeout passes, the copy is abandoned and the reason recorded.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2213:Disposable fields should be disposed", Justification = "RunAsync disposes it when the exchange ends.")]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "The exchange owns its lifetime: RunAsync disposes the source when it ends.")]
internal sealed class ShadowExchange
{
    private readonly Channel<Chunk>? _queue;   // body bytes, in order; null when the head is the whole request
    private byte[]? _head;                     // the head, sent first; taken (set to null) by whoever sends or returns it
    private int _headLength;
    private readonly InactivityTimer _cancel;   // the shadow's timeout, the drain's abort, or an abandon
    private readonly CancellationToken _abort;
    private readonly int _maxBufferedBytes;
    private readonly ShadowBufferBudget _budget;
    private long _bufferedBytes;
    private long _offeredBytes;
    private long _maxOfferedBytes = long.MaxValue;
    private volatile bool _bodyTooLarge;
    private int _abandonReason;   // a BackendError, or Finished; set once
    private readonly Action? _ended;

    private const int Finished = -1;

    private ShadowExchange(bool hasBody, int maxBufferedBytes, ShadowBufferBudget budget, Action? ended, CancellationToken abort)
    {
        _ended = ended;
        if (hasBody)
        {
            // Synchronous continuations: the sender resumes right where bytes are offered (or the request completes),
            // on the same event thread, instead of as a thread-pool work item; its socket writes never block.
            _queue = Channel.CreateUnbounded<Chunk>(
                new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
        }

        _maxBufferedBytes = maxBufferedBytes;
        _budget = budget;
        _abort = abort;
        _cancel = new InactivityTimer(Timeout.InfiniteTimeSpan, abort);
    }

    public Task<BackendResult> Completion { get; private set; } = null!;

    /// <summary>The body outgrew --shadow-max-body on its way (chunked): the copy was abandoned, which is a skip, not a shadow fault.</summary>
    public bool BodyTooLarge => _bodyTooLarge;

    /// <summary>Starts connecting at once and queues the request head; the exchange then runs on its own.</summary>
    /// <param name="hasBody">Whether body bytes will be offered; without, the head is the whole request.</param>
    /// <param name="idempotent">The method may be sent twice (RFC 9110 §9.2.2): one lost on a stale pooled connection is sent again.</param>
    /// <param name="maxBodyBytes">Past this many body bytes the copy is abandoned (<see cref="BodyTooLarge"/>); -1: no bound.</param>
    /// <param name="abort">The proxy's drain timeout passed: give up, so that the request line can still be written.</param>
    /// <param name="ended">Called once when the exchange has ended, just before <see cref="Completion"/> completes.</param>
    public static ShadowExchange Start(
        ReadOnlySpan<byte> head,
        bool hasBody,
        bool isHeadRequest,
        bool idempotent,
        long startTimestamp,
        BackendPool pool,
        ShadowBufferBudget budget,
        ProxyOptions options,
        TimeProvider time,
        CancellationToken abort,
        long maxBodyBytes = -1,
        Action? ended = null)
    {
        var exchange = new ShadowExchange(hasBody, options.MaxShadowBufferBytes, budget, ended, abort);
        if (exchange.TryBuffer(head, out Chunk buffered))
        {
            (exchange._head, exchange._headLength) = (buffered.Buffer, buffered.Length);
        }

        if (maxBodyBytes >= 0)
        {
            exchange._maxOfferedBytes = head.Length + maxBodyBytes;
        }

        exchange.Completion = exchange.RunAsync(isHeadRequest, idempotent, startTimestamp, pool, options, time);
        return exchange;
    }

    /// <summary>Queues body bytes for the shadow; never waits. Past the buffer bound the copy is abandoned.</summary>
    public void Offer(ReadOnlySpan<byte> bytes)
    {
        if (_queue is not null && TryBuffer(bytes, out Chunk chunk) && !_queue.Writer.TryWrite(chunk))
        {
            _budget.Release(chunk.Length);   // the queue was completed meanwhile (abandoned): nobody will send it
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
        }
    }

    /// <summary>Copies request bytes into a pooled buffer within the bounds; past one the copy is abandoned instead.</summary>
    private bool TryBuffer(ReadOnlySpan<byte> bytes, out Chunk chunk)
    {
        chunk = default;
        if (Volatile.Read(ref _abandonReason) != 0 || bytes.IsEmpty)
        {
            return false;
        }

        _offeredBytes += bytes.Length;   // one producer: the request's own pump
        if (_offeredBytes > _maxOfferedBytes)
        {
            _bodyTooLarge = true;
            Abandon(BackendError.Aborted);
            return false;
        }

        if (Interlocked.Add(ref _bufferedBytes, bytes.Length) > _maxBufferedBytes || !_budget.TryTake(bytes.Length))
        {
            Abandon(BackendError.Overflow);
            return false;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(bytes.Length);
        bytes.CopyTo(buffer);
        chunk = new Chunk(buffer, bytes.Length);
        return true;
    }

    public void Offer(in ReadOnlySequence<byte> bytes)
    {
        foreach (ReadOnlyMemory<byte> segment in bytes)
        {
            Offer(segment.Span);
        }
    }

    /// <summary>The whole request has been queued.</summary>
    public void CompleteRequest() => _queue?.Writer.TryComplete();

    /// <summary>
    /// The request could not be forwarded whole (the client's body was cut short, or production failed or answered
    /// before all of it was read): the copy counts as aborted. It is not cancelled outright: what was queued still
    /// goes out, then the shadow sees the request end (FIN), so an answer it has already sent (an early 413, say) is
    /// still read and its status kept; one waiting for the rest of the body ends at the FIN. --shadow-timeout bounds
    /// it as ever, and production does not wait for it.
    /// </summary>
    public void CutRequest()
    {
        if (Interlocked.CompareExchange(ref _abandonReason, (int)BackendError.Aborted, 0) == 0)
        {
            _queue?.Writer.TryComplete();
        }
    }

    /// <summary>Gives up on this copy at once (the shadow fell too far behind, or the body outgrew its bound).</summary>
    public void Abandon(BackendError reason)
    {
        if (Interlocked.CompareExchange(ref _abandonReason, (int)reason, 0) == 0)
        {
            _queue?.Writer.TryComplete();
            _cancel.Cancel();   // one that finished in the meantime has nothing left to stop
        }
    }

    private async Task<BackendResult> RunAsync(bool isHeadRequest, bool idempotent, long startTimestamp, BackendPool pool, ProxyOptions options, TimeProvider time)
    {
        // The copy runs on the shadow's own loop when there is one (unless SHADOWPROXY_SHADOW_LOOP=off) and it has room: its
        // connect, send, receive and close then take the core the client's loop leaves idle (bench/README.md, eleventh
        // round). Otherwise it starts right here, not on the thread pool: up to the connect's first await this is a
        // few cheap steps, and the caller (production's path) is back at once.
        Transport.LoopHandOver handOver = Transport.EventLoops.ShadowHandOver;
        await handOver.Enter(out bool handedOver);
        long started = time.GetTimestamp();
        BackendLink? link = null;
        bool reusable = false;
        BackendError failed = BackendError.None;
        try
        {
            // As for production (RequestExchange): a reused connection that the shadow closed at the moment it was taken
            // fails before any answer, and a bodiless idempotent request is then sent once more on a new connection.
            // Otherwise the proxy's own stale connection would be recorded as the shadow's failure.
            for (int attempt = 1; ; attempt++)
            {
                // Connecting gets the shorter of the connect timeout and what is left of the shadow's.
                TimeSpan left = Remaining(options.ShadowTimeout, started, time);
                _cancel.Restart(left < options.ConnectTimeout ? left : options.ConnectTimeout);
                link = pool.Rent(_cancel.Token, out ValueTask connected);
                await connected.ConfigureAwait(false);   // failing, the link is returned (closed) below
                _cancel.Restart(Remaining(options.ShadowTimeout, started, time));
                bool retryable = link.MayResend(attempt, hasBody: _queue is not null, idempotent);
                Task<bool> sending = SendQueuedAsync(link, keepHead: retryable);
                var relay = new ResponseRelay(link.Input, client: null, options.MaxResponseHeadBytes, time)
                {
                    RequestStart = startTimestamp,
                    Comparison = options.Comparison,
                };
                RelayOutcome outcome = await relay.RunAsync(isHeadRequest, answersConnect: false, _cancel.Token).ConfigureAwait(false);
                if (!sending.IsCompleted)
                {
                    // A shadow that answered early needs no more of the request. Cancel, not CancelAsync: the callbacks
                    // (the pending send's) are short, and CancelAsync would queue them to the thread pool.
                    _cancel.Cancel();
                }

                bool requestSent = await sending.ConfigureAwait(false);
                BackendError abandoned = (BackendError)Volatile.Read(ref _abandonReason);
                if (abandoned != BackendError.None)
                {
                    failed = abandoned;
                    return BackendResult.Failed(abandoned, outcome.StatusCode, outcome.Bytes) with { Facts = outcome.Facts };
                }

                if (retryable && outcome.LostBeforeAnswer && !_cancel.HasFired)
                {
                    await pool.ReturnAsync(link, reusable: false).ConfigureAwait(false);
                    link = null;
                    continue;
                }

                if (outcome.Error == BackendError.None)
                {
                    reusable = requestSent && !outcome.BackendWantsClose;
                    return new BackendResult(outcome.StatusCode, time.GetElapsedTime(startTimestamp, outcome.LastReadTimestamp), outcome.Bytes, BackendError.None) { Facts = outcome.Facts };
                }

                failed = _abort.IsCancellationRequested ? BackendError.Aborted : outcome.Error;
                // What was read of the answer (its head's time, the payload so far) is kept, as production's is.
                return BackendResult.Failed(failed, outcome.StatusCode, outcome.Bytes) with { Facts = outcome.Facts };
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException)
        {
            var abandoned = (BackendError)Volatile.Read(ref _abandonReason);
            failed = abandoned is not BackendError.None ? abandoned
                : _abort.IsCancellationRequested ? BackendError.Aborted
                : BackendFailure.Classify(ex, timedOut: _cancel.HasFired);
            return BackendResult.Failed(failed);
        }
        finally
        {
            Interlocked.CompareExchange(ref _abandonReason, Finished, 0);
            if (link is not null)
            {
                if (failed is BackendError.Timeout or BackendError.Overflow)
                {
                    link.ResetIfUnacknowledged();   // silent, or not reading: what it has not taken is not wanted
                }

                await pool.ReturnAsync(link, reusable).ConfigureAwait(false);
            }

            ReturnQueuedBuffers();
            _cancel.Dispose();
            if (handedOver)
            {
                handOver.Leave();
            }

            _ended?.Invoke();
        }
    }

    /// <summary>What is left of <paramref name="budget"/> since <paramref name="started"/> (a timestamp); zero once spent.</summary>
    private static TimeSpan Remaining(TimeSpan budget, long started, TimeProvider time)
    {
        TimeSpan left = budget - time.GetElapsedTime(started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <returns>Whether the whole request was sent (the connection is then in a state to be reused).</returns>
    /// <param name="keepHead">The head may be sent again (a retry): it stays until the exchange ends (ReturnQueuedBuffers).</param>
    private async Task<bool> SendQueuedAsync(BackendLink link, bool keepHead)
    {
        Stream stream = link.Stream;
        try
        {
            if (keepHead)
            {
                // Null only if the buffer bound refused the head; the copy was abandoned then, before it could connect.
                if (Volatile.Read(ref _head) is { } kept)
                {
                    await stream.WriteAsync(kept.AsMemory(0, _headLength), _cancel.Token).ConfigureAwait(false);
                }
            }
            else if (Interlocked.Exchange(ref _head, null) is { } head)
            {
                await SendAsync(stream, new Chunk(head, _headLength)).ConfigureAwait(false);
            }

            while (_queue is not null && await _queue.Reader.WaitToReadAsync(_cancel.Token).ConfigureAwait(false))
            {
                while (_queue.Reader.TryRead(out Chunk chunk))
                {
                    await SendAsync(stream, chunk).ConfigureAwait(false);
                }
            }

            if (Volatile.Read(ref _abandonReason) != 0)
            {
                link.Socket.ShutdownSend();   // the request was cut (CutRequest): the shadow sees it end here
                return false;
            }

            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
        {
            // The shadow stopped reading (it answered early, closed, or was abandoned): its response says the rest.
            return false;
        }
    }

    /// <summary>Writes one queued piece and gives its bytes back, sent or not.</summary>
    private async ValueTask SendAsync(Stream stream, Chunk chunk)
    {
        try
        {
            await stream.WriteAsync(chunk.Buffer.AsMemory(0, chunk.Length), _cancel.Token).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Add(ref _bufferedBytes, -chunk.Length);
            _budget.Release(chunk.Length);
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
        }
    }

    private void ReturnQueuedBuffers()
    {
        if (Interlocked.Exchange(ref _head, null) is { } head)
        {
            _budget.Release(_headLength);
            ArrayPool<byte>.Shared.Return(head);
        }

        if (_queue is null)
        {
            return;
        }

        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out Chunk chunk))
        {
            _budget.Release(chunk.Length);
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
        }
    }

    private readonly record struct Chunk(byte[] Buffer, int Length);
}
