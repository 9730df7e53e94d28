using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using ShadowProxy.Compare;
using ShadowProxy.Http;

namespace ShadowProxy.Proxy;

/// <summary>
/// Reads one backend response, interim answers included, framed by its own head (RFC 9112 §6.3), and streams each
/// piece to the client as it arrives (production) or only counts it (shadow, no client). No response is buffered whole.
/// </summary>
internal sealed class ResponseRelay
{
    /// <summary>Client writes are gathered up to this size while the backend's next bytes are already here.</summary>
    private const int CoalesceBytes = 16 * 1024;

    /// <summary>A piece at least this large goes to the client as it is when nothing waits before it: no copy.</summary>
    private const int DirectWriteBytes = 4 * 1024;

    private readonly PipeReader _backend;
    private readonly Stream? _client;
    private byte[] _headScratch = [];   // rented once a head has arrived, at its size: a relay waiting on a slow backend holds none
    private readonly int _maxHeadBytes;
    private readonly TimeProvider _time;
    private long _bytes;
    private long _lastRead;
    private bool _backendWantsClose = true;
    private bool _clientWritten;
    private long _finalHeadTimestamp;
    private BodyDigest? _digest;
    private byte[]? _pending;   // bytes for the client not yet written: sent before any wait on the backend
    private int _pendingLength;

    /// <param name="client">Where the response goes; null to read and discard it.</param>
    public ResponseRelay(PipeReader backend, Stream? client, int maxHeadBytes, TimeProvider time)
    {
        _backend = backend;
        _client = client;
        _maxHeadBytes = maxHeadBytes;
        _time = time;
    }

    /// <summary>Called after every read from the backend: an inactivity timeout restarts here.</summary>
    public Action? Progress { get; init; }

    /// <summary>
    /// Decides, once the final head is known, the Connection field the client gets; null forwards the head verbatim, as
    /// is a head that switches the connection to a tunnel (101, a CONNECT's 2xx): its Connection field is the switch's.
    /// </summary>
    public Func<ResponseHead, ClientConnectionField>? ClientConnection { get; init; }

    /// <summary>The request's first byte (a <see cref="TimeProvider"/> timestamp): the time to first byte counts from here.</summary>
    public long RequestStart { get; init; }

    /// <summary>
    /// The request asked for an Upgrade: a 101 is then the switch it asked for. Without one a 101 is an invalid
    /// response (RFC 9110 §15.2.2; nginx answers it 502 too): the connection speaks another protocol from there on.
    /// </summary>
    public bool UpgradeRequested { get; init; }

    /// <summary>
    /// Interim answers (100, 103) go to the client. False for an HTTP/1.0 client, which knows no 1xx and would take one
    /// for the response (RFC 9110 §15.2: never sent to an HTTP/1.0 client): they are read and passed over.
    /// </summary>
    public bool ClientTakesInterim { get; init; } = true;

    /// <summary>How the body is digested for comparison.</summary>
    public BodyComparison Comparison { get; init; } = BodyComparison.Plain;

    /// <summary>Relays one response (interim ones included); every way out goes through <see cref="Outcome"/>.</summary>
    public async Task<RelayOutcome> RunAsync(bool answersHeadRequest, bool answersConnect, CancellationToken cancellationToken)
    {
        ResponseHead head = default;
        bool announcedClose = false;
        try
        {
            do
            {
                // What came before is interim (RFC 9110 §15.2), not the response: its status and first byte are not the
                // response's, and once it is out a 502 / 504 may still follow it.
                head = default;
                _finalHeadTimestamp = 0;
                await FlushClientAsync(cancellationToken).ConfigureAwait(false);   // an interim answer goes out before the wait
                _clientWritten = false;
                HeadRead read = await MessageHeadReader.ReadAsync(
                    _backend, _headScratch, _maxHeadBytes, _time, cancellationToken, growFrom: ArrayPool<byte>.Shared, failureCutsHead: true)
                    .ConfigureAwait(false);
                if (read.Grown is { } grown)
                {
                    MessageHeadReader.ReturnScratch(ref _headScratch, ArrayPool<byte>.Shared);
                    _headScratch = grown;
                }

                AfterRead();
                _bytes += read.Length;   // a cut head's bytes count too: they show the backend saw the request (no resend)
                if (read.Status != HeadReadStatus.Complete)
                {
                    BackendError error = read.Status is HeadReadStatus.TooLarge or HeadReadStatus.Malformed ? BackendError.InvalidResponse
                        : read.Failure is { } failure ? BackendFailure.Classify(failure, timedOut: false)
                        : BackendError.Reset;
                    return Outcome(head.StatusCode, error, head.Body, announcedClose);
                }

                _finalHeadTimestamp = read.FirstByteTimestamp;
                if (!ResponseHeadParser.TryParse(_headScratch.AsSpan(0, read.Length), answersHeadRequest, answersConnect, out head)
                    || (head.StatusCode == 101 && !UpgradeRequested))
                {
                    return Outcome(0, BackendError.InvalidResponse, BodyKind.None, announcedClose);
                }

                _backendWantsClose = head.ServerWantsClose;
                bool switches = head.StatusCode == 101 || (answersConnect && head.StatusCode is >= 200 and < 300);
                if (!head.IsInterim || ClientTakesInterim)
                {
                    announcedClose = await WriteHeadAsync(head, read.Length, switches ? null : ClientConnection, cancellationToken).ConfigureAwait(false);
                }
            }
            while (head.IsInterim);

            _digest = new BodyDigest(Comparison, head.Body == BodyKind.ContentLength ? head.ContentLength : -1);

            BackendError bodyError = head.Body switch
            {
                BodyKind.None => BackendError.None,
                BodyKind.ContentLength => await CopyLengthAsync(head.ContentLength, cancellationToken).ConfigureAwait(false),
                BodyKind.Chunked => await CopyChunkedAsync(cancellationToken).ConfigureAwait(false),
                _ => await CopyToEndAsync(cancellationToken).ConfigureAwait(false),
            };
            await FlushClientAsync(cancellationToken).ConfigureAwait(false);
            return Outcome(head.StatusCode, bodyError, head.Body, announcedClose);
        }
        catch (ClientWriteException)
        {
            return Outcome(head.StatusCode, BackendError.None, head.Body, announcedClose, clientFailed: true);
        }
        catch (OperationCanceledException)
        {
            return Outcome(head.StatusCode, BackendError.Timeout, head.Body, announcedClose);
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            return Outcome(head.StatusCode, BackendFailure.Classify(ex, timedOut: false), head.Body, announcedClose);
        }
        finally
        {
            MessageHeadReader.ReturnScratch(ref _headScratch, ArrayPool<byte>.Shared);
            ReturnPending();
        }
    }

    /// <summary>How the relay ended, with the response's facts for the comparison (time to first byte, digest).</summary>
    private RelayOutcome Outcome(int status, BackendError error, BodyKind body, bool announcedClose, bool clientFailed = false)
    {
        TimeSpan? firstByte = _finalHeadTimestamp != 0 ? _time.GetElapsedTime(RequestStart, _finalHeadTimestamp) : null;
        bool whole = error == BackendError.None && !clientFailed;
        ResponseFacts facts = _digest is null ? new ResponseFacts(firstByte, 0, 0, null, false) : _digest.Complete(firstByte, whole);
        return new(status, _bytes, error, body, _clientWritten, clientFailed, announcedClose, _lastRead, _backendWantsClose) { Facts = facts };
    }

    /// <summary>
    /// Notes when bytes last arrived: the response's end is the read that delivered its last byte, so a slow client
    /// (writes to it come after) does not count against production's time.
    /// </summary>
    private void AfterRead()
    {
        _lastRead = _time.GetTimestamp();
        Progress?.Invoke();
    }

    /// <returns>Whether the client was told that its connection closes after this response.</returns>
    private async ValueTask<bool> WriteHeadAsync(
        ResponseHead head, int length, Func<ResponseHead, ClientConnectionField>? clientConnection, CancellationToken cancellationToken)
    {
        if (_client is null)
        {
            return false;
        }

        if (clientConnection is null && !head.LengthOverridden)
        {
            await WriteToClientAsync(_headScratch.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            return true;
        }

        ClientConnectionField field = head.IsInterim || clientConnection is null ? ClientConnectionField.None : clientConnection(head);
        // Sized to this head, not to the limit: a small rental the shared pool keeps.
        byte[] rewritten = ArrayPool<byte>.Shared.Rent(length + HeadRewriter.MaxGrowth);
        try
        {
            // A length that Transfer-Encoding overrides is not passed on: the client must frame the body as the proxy did.
            int written = clientConnection is null
                ? HeadRewriter.RemoveContentLength(_headScratch.AsSpan(0, length), rewritten)
                : HeadRewriter.Rewrite(_headScratch.AsSpan(0, length), field.Bytes, rewritten, dropContentLength: head.LengthOverridden);
            await WriteToClientAsync(rewritten.AsMemory(0, written), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rewritten);
        }

        return clientConnection is null || field.Closes;
    }

    private async ValueTask<BackendError> CopyLengthAsync(long remaining, CancellationToken cancellationToken)
    {
        while (remaining > 0)
        {
            ReadResult result = await ReadBackendAsync(cancellationToken).ConfigureAwait(false);
            AfterRead();
            ReadOnlySequence<byte> body = result.Buffer.Length > remaining ? result.Buffer.Slice(0, remaining) : result.Buffer;
            _digest!.Append(body);
            remaining -= body.Length;   // before ForwardAsync: it advances the pipe, after which the body's segments may be recycled
            await ForwardAsync(body, cancellationToken).ConfigureAwait(false);
            if (remaining > 0 && result.IsCompleted)
            {
                return BackendError.Reset;
            }
        }

        return BackendError.None;
    }

    private async ValueTask<BackendError> CopyChunkedAsync(CancellationToken cancellationToken)
    {
        var scanner = new ChunkedBodyScanner();
        while (true)
        {
            ReadResult result = await ReadBackendAsync(cancellationToken).ConfigureAwait(false);
            AfterRead();
            long consumed = scanner.Scan(result.Buffer, _digest);
            await ForwardAsync(result.Buffer.Slice(0, consumed), cancellationToken).ConfigureAwait(false);
            if (scanner.IsInvalid)
            {
                return BackendError.InvalidResponse;
            }

            if (scanner.IsComplete)
            {
                return BackendError.None;
            }

            if (result.IsCompleted)
            {
                return BackendError.Reset;
            }
        }
    }

    private async ValueTask<BackendError> CopyToEndAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await ReadBackendAsync(cancellationToken).ConfigureAwait(false);
            AfterRead();
            _digest!.Append(result.Buffer);
            await ForwardAsync(result.Buffer, cancellationToken).ConfigureAwait(false);
            if (result.IsCompleted)
            {
                return BackendError.None;
            }
        }
    }

    /// <summary>Sends the bytes on (or only counts them) and consumes them from the backend pipe.</summary>
    private async ValueTask ForwardAsync(ReadOnlySequence<byte> bytes, CancellationToken cancellationToken)
    {
        _bytes += bytes.Length;
        if (_client is not null)
        {
            foreach (ReadOnlyMemory<byte> segment in bytes)
            {
                await WriteToClientAsync(segment, cancellationToken).ConfigureAwait(false);
            }
        }

        _backend.AdvanceTo(bytes.End);
    }

    /// <summary>
    /// The backend's next bytes: those already received at once; otherwise what is gathered for the client goes out
    /// first, so that nothing the client could have waits on the backend.
    /// </summary>
    private async ValueTask<ReadResult> ReadBackendAsync(CancellationToken cancellationToken)
    {
        if (_backend.TryRead(out ReadResult ready))
        {
            return ready;
        }

        await FlushClientAsync(cancellationToken).ConfigureAwait(false);
        return await _backend.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Small pieces are gathered (a head and the body that came with it leave in one send, one TCP segment); a large
    /// piece with nothing gathered before it is written as it is. The bytes are copied, so the pipe may recycle them.
    /// </summary>
    private async ValueTask WriteToClientAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        if (_pendingLength + bytes.Length > CoalesceBytes)
        {
            await FlushClientAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_pendingLength == 0 && bytes.Length >= DirectWriteBytes)
        {
            await SendAsync(bytes, cancellationToken).ConfigureAwait(false);
            return;
        }

        _pending ??= ArrayPool<byte>.Shared.Rent(CoalesceBytes);
        bytes.Span.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += bytes.Length;
    }

    private async ValueTask FlushClientAsync(CancellationToken cancellationToken)
    {
        if (_pendingLength > 0)
        {
            int length = _pendingLength;
            _pendingLength = 0;
            await SendAsync(_pending.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            // Only bytes handed to the socket count as written: gathered ones that never left still allow a 502 / 504.
            _clientWritten = true;
            await _client!.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new ClientWriteException(ex);
        }
        catch (OperationCanceledException ex)
        {
            // Production's timer ran down while the client would not take the bytes (production is not being read
            // during this write, and its progress restarts the timer): the client's doing, not a production timeout.
            throw new ClientWriteException(ex);
        }
    }

    private void ReturnPending()
    {
        if (_pending is not null)
        {
            ArrayPool<byte>.Shared.Return(_pending);
            _pending = null;
            _pendingLength = 0;
        }
    }
}
