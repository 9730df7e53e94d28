namespace ShadowProxy.Transport;

/// <summary>
/// A <see cref="LoopSocket"/> as a Stream (for PipeReader and the relay code), failing as NetworkStream fails: an
/// IOException around the SocketException. Disposing it leaves the socket open; its owner closes the socket.
/// </summary>
internal sealed class LoopSocketStream(LoopSocket socket) : Stream
{
    public LoopSocket Socket { get; } = socket;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Socket.ReceiveAsync(buffer, cancellationToken, streamErrors: true);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        Socket.SendAsync(buffer, cancellationToken, streamErrors: true);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => BlockingAllowed()
        ? ReadAsync(buffer, offset, count).GetAwaiter().GetResult()
        : throw new InvalidOperationException("A blocking read on an event loop would wait for that loop itself.");

    public override void Write(byte[] buffer, int offset, int count)
    {
        if (!BlockingAllowed())
        {
            throw new InvalidOperationException("A blocking write on an event loop would wait for that loop itself.");
        }

        WriteAsync(buffer, offset, count).GetAwaiter().GetResult();
    }

    private static bool BlockingAllowed() => EventLoop.Current is null;

    public override void Flush()
    {
        // Nothing is buffered.
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
