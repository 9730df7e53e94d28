using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using ShadowProxy.Http;

namespace ShadowProxy.Proxy;

/// <summary>
/// Reads one backend response, interim answers included, framed by its own head (RFC 9112 §6.3), and streams each
/// piece to the client as it arrives (production) or only counts it (shadow, no client). No response is buffered whole.
/// </summary>
internal sealed class ResponseRelay
{
    private readonly PipeReader _backend;
    private readonly Stream? _client;
    private readonly byte[] _headScratch;
    private readonly byte[] _rewriteScratch;
    private readonly int _maxHeadBytes;
    private readonly TimeProvider _time;
    private long _bytes;
    private bool _clientWritten;

    /// <param name="client">Where the response goes; null to read and discard it.</param>
    public ResponseRelay(PipeReader backend, Stream? client, int maxHeadBytes, TimeProvider time)
    {
        _backend = backend;
        _client = client;
        _maxHeadBytes = maxHeadBytes;
        _time = time;
        _headScratch = ArrayPool<byte>.Shared.Rent(maxHeadBytes);
        _rewriteScratch = client is null ? [] : ArrayPool<byte>.Shared.Rent(maxHeadBytes + HeadRewriter.MaxGrowth);
    }

    /// <summary>Called after every read from the backend: an inactivity timeout restarts here.</summary>
    public Action? Progress { get; init; }

    /// <summary>Decides, once the final head is known, the Connection field the client gets; null forwards the head verbatim.</summary>
    public Func<ResponseHead, ClientConnectionField>? ClientConnection { get; init; }

    public async Task<RelayOutcome> RunAsync(bool answersHeadRequest, bool answersConnect, CancellationToken cancellationToken)
    {
        ResponseHead head = default;
        bool announcedClose = false;
        try
        {
            do
            {
                HeadRead read = await MessageHeadReader.ReadAsync(_backend, _headScratch, _maxHeadBytes, _time, cancellationToken)
                    .ConfigureAwait(false);
                Progress?.Invoke();
                if (read.Status != HeadReadStatus.Complete)
                {
                    BackendError error = read.Status is HeadReadStatus.TooLarge or HeadReadStatus.Malformed ? BackendError.InvalidResponse : BackendError.Reset;
                    return Outcome(head.StatusCode, error, head.Body, announcedClose);
                }

                _bytes += read.Length;
                if (!ResponseHeadParser.TryParse(_headScratch.AsSpan(0, read.Length), answersHeadRequest, answersConnect, out head))
                {
                    return Outcome(0, BackendError.InvalidResponse, BodyKind.None, announcedClose);
                }

                announcedClose = await WriteHeadAsync(head, read.Length, cancellationToken).ConfigureAwait(false);
            }
            while (head.IsInterim);

            BackendError bodyError = head.Body switch
            {
                BodyKind.None => BackendError.None,
                BodyKind.ContentLength => await CopyLengthAsync(head.ContentLength, cancellationToken).ConfigureAwait(false),
                BodyKind.Chunked => await CopyChunkedAsync(cancellationToken).ConfigureAwait(false),
                _ => await CopyToEndAsync(cancellationToken).ConfigureAwait(false),
            };
            return Outcome(head.StatusCode, bodyError, head.Body, announcedClose);
        }
        catch (ClientWriteException)
        {
            return new RelayOutcome(head.StatusCode, _bytes, BackendError.None, head.Body, _clientWritten, ClientFailed: true, announcedClose);
        }
        catch (OperationCanceledException)
        {
            return Outcome(head.StatusCode, BackendError.Timeout, head.Body, announcedClose);
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            return Outcome(head.StatusCode, BackendConnector.Classify(ex, timedOut: false), head.Body, announcedClose);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(_headScratch);
            if (_rewriteScratch.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_rewriteScratch);
            }
        }
    }

    private RelayOutcome Outcome(int status, BackendError error, BodyKind body, bool announcedClose) =>
        new(status, _bytes, error, body, _clientWritten, ClientFailed: false, announcedClose);

    /// <returns>Whether the client was told that its connection closes after this response.</returns>
    private async ValueTask<bool> WriteHeadAsync(ResponseHead head, int length, CancellationToken cancellationToken)
    {
        if (_client is null)
        {
            return false;
        }

        if (ClientConnection is null)
        {
            await WriteToClientAsync(_headScratch.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            return true;
        }

        ClientConnectionField field = head.IsInterim ? ClientConnectionField.None : ClientConnection(head);
        int written = HeadRewriter.Rewrite(_headScratch.AsSpan(0, length), field.Bytes, _rewriteScratch);
        await WriteToClientAsync(_rewriteScratch.AsMemory(0, written), cancellationToken).ConfigureAwait(false);
        return field.Closes;
    }

    private async ValueTask<BackendError> CopyLengthAsync(long remaining, CancellationToken cancellationToken)
    {
        while (remaining > 0)
        {
            ReadResult result = await _backend.ReadAsync(cancellationToken).ConfigureAwait(false);
            Progress?.Invoke();
            ReadOnlySequence<byte> body = result.Buffer.Length > remaining ? result.Buffer.Slice(0, remaining) : result.Buffer;
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
            ReadResult result = await _backend.ReadAsync(cancellationToken).ConfigureAwait(false);
            Progress?.Invoke();
            long consumed = scanner.Scan(result.Buffer);
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
            ReadResult result = await _backend.ReadAsync(cancellationToken).ConfigureAwait(false);
            Progress?.Invoke();
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

    private async ValueTask WriteToClientAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        try
        {
            _clientWritten = true;
            await _client!.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw new ClientWriteException(ex);
        }
    }
}
