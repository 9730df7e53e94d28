using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>A persistent client connection: several requests, each response read by its own framing.</summary>
internal sealed class RawConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;

    private RawConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket);
        _input = PipeReader.Create(_stream);
    }

    public static async Task<RawConnection> OpenAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return new RawConnection(socket);
    }

    public async Task SendAsync(string request) => await _stream.WriteAsync(Encoding.Latin1.GetBytes(request));

    /// <summary>Reads one response (interim responses included, as separate heads) and returns all its bytes.</summary>
    public async Task<string> ReadResponseAsync(bool answersHead = false, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        var text = new StringBuilder();
        byte[] scratch = new byte[64 * 1024];
        ResponseHead head;
        do
        {
            HeadRead read = await MessageHeadReader.ReadAsync(_input, scratch, scratch.Length, TimeProvider.System, limit.Token);
            if (read.Status != HeadReadStatus.Complete)
            {
                throw new IOException($"No response head: {read.Status}; so far: {text}");
            }

            text.Append(Encoding.Latin1.GetString(scratch, 0, read.Length));
            Assert.True(ResponseHeadParser.TryParse(scratch.AsSpan(0, read.Length), answersHead, false, out head), text.ToString());
        }
        while (head.IsInterim);

        if (head.Body == BodyKind.ContentLength)
        {
            for (long remaining = head.ContentLength; remaining > 0;)
            {
                ReadResult result = await _input.ReadAsync(limit.Token);
                var slice = result.Buffer.Slice(0, Math.Min(remaining, result.Buffer.Length));
                text.Append(Encoding.Latin1.GetString(slice));
                remaining -= slice.Length;
                _input.AdvanceTo(slice.End);
                if (result.IsCompleted && remaining > 0)
                {
                    throw new IOException("Response body cut short: " + text);
                }
            }
        }
        else if (head.Body == BodyKind.Chunked)
        {
            var scanner = new ChunkedBodyScanner();
            while (!scanner.IsComplete)
            {
                ReadResult result = await _input.ReadAsync(limit.Token);
                long used = scanner.Scan(result.Buffer);
                text.Append(Encoding.Latin1.GetString(result.Buffer.Slice(0, used)));
                _input.AdvanceTo(result.Buffer.GetPosition(used));
                Assert.False(scanner.IsInvalid);
                if (result.IsCompleted && !scanner.IsComplete)
                {
                    throw new IOException("Chunked response cut short: " + text);
                }
            }
        }
        else if (head.Body == BodyKind.CloseDelimited)
        {
            text.Append(await ReadToEndAsync(limit.Token));
        }

        return text.ToString();
    }

    /// <summary>Reads exactly one head (an interim answer such as 100 Continue) and returns it.</summary>
    public async Task<string> ReadInterimHeadAsync()
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        byte[] scratch = new byte[64 * 1024];
        HeadRead read = await MessageHeadReader.ReadAsync(_input, scratch, scratch.Length, TimeProvider.System, limit.Token);
        Assert.Equal(HeadReadStatus.Complete, read.Status);
        return Encoding.Latin1.GetString(scratch, 0, read.Length);
    }

    /// <summary>Reads whatever comes until the proxy closes the connection.</summary>
    public async Task<string> ReadToEndAsync(CancellationToken cancellationToken = default)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(20));
        var text = new StringBuilder();
        await AppendUntilClosedAsync(text, limit.Token);
        return text.ToString();
    }

    /// <summary>Reads until what arrived so far ends with <paramref name="expectedEnd"/> (bounded) and returns it all: part of a response.</summary>
    public async Task<string> ReadThroughAsync(string expectedEnd, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var text = new StringBuilder();
        while (!text.ToString().EndsWith(expectedEnd, StringComparison.Ordinal))
        {
            ReadResult result = await _input.ReadAsync(limit.Token);
            text.Append(Encoding.Latin1.GetString(result.Buffer));
            _input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                throw new IOException($"Closed before '{expectedEnd}' arrived; got: {text}");
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// Reads until the proxy ends the connection, by a close or a reset, and returns what arrived before; null when
    /// the connection is still open after <paramref name="wait"/>.
    /// </summary>
    public async Task<string?> ReadUntilEndedAsync(TimeSpan wait)
    {
        using var limit = new CancellationTokenSource(wait);
        var text = new StringBuilder();
        try
        {
            await AppendUntilClosedAsync(text, limit.Token);
            return text.ToString();
        }
        catch (IOException)
        {
            return text.ToString();   // reset: as much a cut as a close
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Appends what arrives until the proxy closes its side; what arrived stays in <paramref name="text"/> if it fails.</summary>
    private async Task AppendUntilClosedAsync(StringBuilder text, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(cancellationToken);
            text.Append(Encoding.Latin1.GetString(result.Buffer));
            _input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>True when the proxy has closed its side (EOF within the wait), false when the connection stays open.</summary>
    public async Task<bool> IsClosedByProxyAsync(TimeSpan wait)
    {
        using var limit = new CancellationTokenSource(wait);
        try
        {
            ReadResult result = await _input.ReadAsync(limit.Token);
            bool closed = result.IsCompleted && result.Buffer.IsEmpty;
            _input.AdvanceTo(result.Buffer.Start);
            return closed;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    public async ValueTask DisposeAsync()
    {
        await _input.CompleteAsync();
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
