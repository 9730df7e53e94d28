using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>One connection to a <see cref="LoopbackBackend"/>, as its handler sees it.</summary>
internal sealed class BackendConnection : IDisposable
{
    private readonly LoopbackBackend _backend;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;

    public BackendConnection(LoopbackBackend backend, Socket socket, CancellationToken stopping)
    {
        _backend = backend;
        Socket = socket;
        Stopping = stopping;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _input = PipeReader.Create(_stream);
    }

    public Socket Socket { get; }

    public CancellationToken Stopping { get; }

    /// <summary>Reads one whole request (framed by its own head), records it, and returns it; null if the connection closed first.</summary>
    public async Task<string?> ReadRequestAsync()
    {
        string? head = await ReadHeadAsync();
        if (head is null)
        {
            return null;
        }

        string whole = head + await ReadBodyAsync(head);
        _backend.Record(whole);
        return whole;
    }

    /// <summary>Reads the body that <paramref name="head"/> announces (as far as it arrives) and returns it.</summary>
    public async Task<string> ReadBodyAsync(string head)
    {
        Assert.True(RequestHeadParser.TryParse(Encoding.Latin1.GetBytes(head), out RequestHead request), "backend got a head it cannot parse: " + head);
        var body = new StringBuilder();
        if (request.Body == BodyKind.ContentLength)
        {
            for (long remaining = request.ContentLength; remaining > 0;)
            {
                ReadResult result = await _input.ReadAsync(Stopping);
                var slice = result.Buffer.Slice(0, Math.Min(remaining, result.Buffer.Length));
                body.Append(Encoding.Latin1.GetString(slice));
                remaining -= slice.Length;
                _input.AdvanceTo(slice.End);
                if (result.IsCompleted && remaining > 0)
                {
                    break;
                }
            }
        }
        else if (request.Body == BodyKind.Chunked)
        {
            var scanner = new ChunkedBodyScanner();
            while (!scanner.IsComplete && !scanner.IsInvalid)
            {
                ReadResult result = await _input.ReadAsync(Stopping);
                long used = scanner.Scan(result.Buffer);
                body.Append(Encoding.Latin1.GetString(result.Buffer.Slice(0, used)));
                _input.AdvanceTo(result.Buffer.GetPosition(used));
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }

        return body.ToString();
    }

    /// <summary>Reads and records only the head: for backends that answer without reading the body.</summary>
    public async Task<string?> ReadHeadAsync()
    {
        byte[] scratch = new byte[64 * 1024];
        HeadRead read = await MessageHeadReader.ReadAsync(_input, scratch, scratch.Length, TimeProvider.System, Stopping);
        return read.Status == HeadReadStatus.Complete ? Encoding.Latin1.GetString(scratch, 0, read.Length) : null;
    }

    public void RecordHeadOnly(string head) => _backend.Record(head);

    /// <summary>Reads exactly <paramref name="length"/> bytes (a body the handler frames itself).</summary>
    public async Task<string?> ReadExactlyAsync(int length)
    {
        var text = new StringBuilder();
        while (text.Length < length)
        {
            ReadResult result = await _input.ReadAsync(Stopping);
            var slice = result.Buffer.Slice(0, Math.Min(length - text.Length, result.Buffer.Length));
            text.Append(Encoding.Latin1.GetString(slice));
            _input.AdvanceTo(slice.End);
            if (result.IsCompleted && text.Length < length)
            {
                return null;
            }
        }

        return text.ToString();
    }

    public Task<string?> ReadBodyAsync(int length) => ReadExactlyAsync(length);

    public async Task SendAsync(string text) => await SendAsync(Encoding.Latin1.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes, Stopping);
        await _stream.FlushAsync(Stopping);
    }

    /// <summary>Resets the connection (RST), as a crashing backend would.</summary>
    public void Reset()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    /// <summary>Waits until the proxy closes the connection (or the test ends).</summary>
    public async Task WaitForCloseAsync()
    {
        while (true)
        {
            ReadResult result = await _input.ReadAsync(Stopping);
            _input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        _input.Complete();
        _stream.Dispose();
    }
}
