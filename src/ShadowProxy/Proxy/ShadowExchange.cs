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
    private readonly Channel<Chunk> _queue = Channel.CreateUnbounded<Chunk>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _cancel = new();
    private readonly int _maxBufferedBytes;
    private long _bufferedBytes;
    private int _abandonReason;   // a BackendError, or Finished; set once

    private const int Finished = -1;

    private ShadowExchange(int maxBufferedBytes)
    {
        _maxBufferedBytes = maxBufferedBytes;
    }

    public Task<BackendResult> Completion { get; private set; } = null!;

    /// <summary>Starts connecting at once and queues the request head; the exchange then runs on its own.</summary>
    /// <param name="abort">The drain timeout passed: give up on the shadow as on a timeout, so that its line is written now.</param>
    public static ShadowExchange Start(
        ReadOnlySpan<byte> head, bool isHeadRequest, long startTimestamp, ProxyOptions options, TimeProvider time, CancellationToken abort)
    {
        var exchange = new ShadowExchange(options.MaxShadowBufferBytes);
        exchange.Offer(head);
        exchange.Completion = exchange.RunAsync(isHeadRequest, startTimestamp, options, time, abort);
        return exchange;
    }

    /// <summary>Queues request bytes for the shadow; never waits. Past the buffer bound the copy is abandoned.</summary>
    public void Offer(ReadOnlySpan<byte> bytes)
    {
        if (Volatile.Read(ref _abandonReason) != 0 || bytes.IsEmpty)
        {
            return;
        }

        if (Interlocked.Add(ref _bufferedBytes, bytes.Length) > _maxBufferedBytes)
        {
            Abandon(BackendError.Overflow);
            return;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(bytes.Length);
        bytes.CopyTo(buffer);
        if (!_queue.Writer.TryWrite(new Chunk(buffer, bytes.Length)))
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Offer(in ReadOnlySequence<byte> bytes)
    {
        foreach (ReadOnlyMemory<byte> segment in bytes)
        {
            Offer(segment.Span);
        }
    }

    /// <summary>The whole request has been queued.</summary>
    public void CompleteRequest() => _queue.Writer.TryComplete();

    /// <summary>Gives up on this copy (the request could not be forwarded whole, or the shadow fell too far behind).</summary>
    public void Abandon(BackendError reason)
    {
        if (Interlocked.CompareExchange(ref _abandonReason, (int)reason, 0) == 0)
        {
            _queue.Writer.TryComplete();
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The exchange finished in the meantime: there is nothing left to stop.
            }
        }
    }

    private async Task<BackendResult> RunAsync(bool isHeadRequest, long startTimestamp, ProxyOptions options, TimeProvider time, CancellationToken abort)
    {
        await Task.Yield();   // the caller goes on with production at once
        _cancel.CancelAfter(options.ShadowTimeout);
        CancellationTokenRegistration aborting = abort.Register(static state => ((ShadowExchange)state!).Abandon(BackendError.Timeout), this);
        Socket? socket = null;
        ResponseRelay? relay = null;
        try
        {
            socket = await ConnectAsync(options.Shadow, options.ConnectTimeout).ConfigureAwait(false);
            using var stream = new NetworkStream(socket, ownsSocket: false);
            Task sending = SendQueuedAsync(stream);
            relay = new ResponseRelay(PipeReader.Create(stream), client: null, options.MaxResponseHeadBytes, time);
            RelayOutcome outcome = await relay.RunAsync(isHeadRequest, answersConnect: false, _cancel.Token).ConfigureAwait(false);
            await _cancel.CancelAsync().ConfigureAwait(false);   // a shadow that answered early needs no more of the request
            await sending.ConfigureAwait(false);
            BackendError abandoned = (BackendError)Volatile.Read(ref _abandonReason);
            if (abandoned != BackendError.None)
            {
                return BackendResult.Failed(abandoned, outcome.StatusCode, outcome.Bytes);
            }

            return outcome.Error == BackendError.None
                ? new BackendResult(outcome.StatusCode, time.GetElapsedTime(startTimestamp), outcome.Bytes, BackendError.None)
                : BackendResult.Failed(outcome.Error, outcome.StatusCode, outcome.Bytes);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException)
        {
            var abandoned = (BackendError)Volatile.Read(ref _abandonReason);
            return BackendResult.Failed(abandoned is not BackendError.None
                ? abandoned
                : BackendConnector.Classify(ex, timedOut: _cancel.IsCancellationRequested));
        }
        finally
        {
            await aborting.DisposeAsync().ConfigureAwait(false);
            Interlocked.CompareExchange(ref _abandonReason, Finished, 0);
            socket?.Dispose();
            ReturnQueuedBuffers();
            _cancel.Dispose();
        }
    }

    private async Task<Socket> ConnectAsync(IPEndPoint endpoint, TimeSpan connectTimeout)
    {
        using var connectTimer = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token);
        connectTimer.CancelAfter(connectTimeout);
        try
        {
            return await BackendConnector.ConnectAsync(endpoint, connectTimer.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_cancel.IsCancellationRequested)
        {
            throw new SocketException((int)SocketError.TimedOut);
        }
    }

    private async Task SendQueuedAsync(NetworkStream stream)
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(_cancel.Token).ConfigureAwait(false))
            {
                while (_queue.Reader.TryRead(out Chunk chunk))
                {
                    try
                    {
                        await stream.WriteAsync(chunk.Buffer.AsMemory(0, chunk.Length), _cancel.Token).ConfigureAwait(false);
                    }
                    finally
                    {
                        Interlocked.Add(ref _bufferedBytes, -chunk.Length);
                        ArrayPool<byte>.Shared.Return(chunk.Buffer);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
        {
            // The shadow stopped reading (it answered early, closed, or was abandoned): its response says the rest.
        }
    }

    private void ReturnQueuedBuffers()
    {
        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out Chunk chunk))
        {
            ArrayPool<byte>.Shared.Return(chunk.Buffer);
        }
    }

    private readonly record struct Chunk(byte[] Buffer, int Length);
}
