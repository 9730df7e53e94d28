using System.Buffers;
using System.IO.Pipelines;
using ShadowProxy.Http;

namespace ShadowProxy.Proxy;

/// <summary>
/// Copies exactly one request body, as its bytes arrive, from the client to production and to the shadow's queue.
/// Content-Length counts it; chunked framing is scanned to find its end, and the original bytes go on untouched.
/// Bytes after the body (a pipelined request) stay in the client pipe.
/// </summary>
internal sealed class RequestBodyPump(PipeReader client, Stream production, ShadowExchange? shadow, InactivityTimer clientTimer)
{
    /// <summary>
    /// Body bytes production takes between two calls of <see cref="Progress"/>. A steady upload is production reading,
    /// not production silent, so it restarts production's timeout; a body dribbled at less than this much per
    /// --production-timeout (64 KiB a minute by default: about 1 KiB/s, four times Kestrel's MinRequestBodyDataRate)
    /// is still cut by it.
    /// </summary>
    internal const int ProgressBytes = 64 * 1024;

    private long _sinceProgress;
    private long _unreadLength;

    /// <summary>Called each time production has taken another <see cref="ProgressBytes"/> of the body.</summary>
    public Action? Progress { get; init; }

    /// <summary>
    /// The body's last bytes have been read from the client and handed to production. Once production answers, this
    /// tells a complete request apart from an early answer, without waiting for the write's continuation to run.
    /// </summary>
    public bool LastBytesHandedOver => UnreadLength == 0;

    /// <summary>
    /// Body bytes not taken from the client, still on their way once production has answered early: the rest of a
    /// Content-Length; <see cref="long.MaxValue"/> for a chunked body not read to its end, whose end is unknown.
    /// </summary>
    public long UnreadLength => Volatile.Read(ref _unreadLength);

    public async Task<BodyOutcome> PumpAsync(RequestHead head, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _unreadLength, UnreadLengthOf(head));
        try
        {
            return head.Body switch
            {
                BodyKind.ContentLength => await PumpLengthAsync(head.ContentLength, cancellationToken).ConfigureAwait(false),
                BodyKind.Chunked => await PumpChunkedAsync(cancellationToken).ConfigureAwait(false),
                _ => BodyOutcome.Complete,
            };
        }
        catch (OperationCanceledException)
        {
            return clientTimer.HasFired ? BodyOutcome.TimedOut : BodyOutcome.Cancelled;
        }
        catch (IOException)
        {
            return BodyOutcome.ClientClosed;
        }
    }

    /// <summary>What <see cref="UnreadLength"/> is before any of the body has been read.</summary>
    public static long UnreadLengthOf(in RequestHead head) => head.Body switch
    {
        BodyKind.ContentLength => head.ContentLength,
        BodyKind.Chunked => long.MaxValue,
        _ => 0,
    };

    private async Task<BodyOutcome> PumpLengthAsync(long remaining, CancellationToken cancellationToken)
    {
        while (remaining > 0)
        {
            ReadResult result = await ReadClientAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> body = result.Buffer.Length > remaining ? result.Buffer.Slice(0, remaining) : result.Buffer;
            remaining -= body.Length;
            Volatile.Write(ref _unreadLength, remaining);
            if (!await ForwardAsync(body, cancellationToken).ConfigureAwait(false))
            {
                return BodyOutcome.ProductionClosed;
            }

            if (remaining > 0 && result.IsCompleted)
            {
                return BodyOutcome.ClientClosed;
            }
        }

        return BodyOutcome.Complete;
    }

    private async Task<BodyOutcome> PumpChunkedAsync(CancellationToken cancellationToken)
    {
        var scanner = new ChunkedBodyScanner();
        while (true)
        {
            ReadResult result = await ReadClientAsync(cancellationToken).ConfigureAwait(false);
            long consumed = scanner.Scan(result.Buffer);
            if (scanner.IsInvalid)
            {
                client.AdvanceTo(result.Buffer.Start);
                return BodyOutcome.Malformed;
            }

            Volatile.Write(ref _unreadLength, scanner.IsComplete ? 0 : long.MaxValue);
            if (!await ForwardAsync(result.Buffer.Slice(0, consumed), cancellationToken).ConfigureAwait(false))
            {
                return BodyOutcome.ProductionClosed;
            }

            if (scanner.IsComplete)
            {
                return BodyOutcome.Complete;
            }

            if (result.IsCompleted)
            {
                return BodyOutcome.ClientClosed;
            }
        }
    }

    private async ValueTask<ReadResult> ReadClientAsync(CancellationToken cancellationToken)
    {
        clientTimer.Start();
        ReadResult result = await client.ReadAsync(clientTimer.Token).ConfigureAwait(false);
        clientTimer.Stop();
        if (result.IsCanceled)
        {
            client.AdvanceTo(result.Buffer.Start);
            throw new OperationCanceledException(cancellationToken);
        }

        return result;
    }

    /// <summary>Queues the bytes for the shadow, writes them to production and consumes them; false if production stopped taking them.</summary>
    private async ValueTask<bool> ForwardAsync(ReadOnlySequence<byte> body, CancellationToken cancellationToken)
    {
        shadow?.Offer(body);
        try
        {
            foreach (ReadOnlyMemory<byte> segment in body)
            {
                await production.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
                _sinceProgress += segment.Length;
                if (_sinceProgress >= ProgressBytes)
                {
                    _sinceProgress = 0;
                    Progress?.Invoke();
                }
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            return false;
        }
        finally
        {
            client.AdvanceTo(body.End);
        }
    }
}
