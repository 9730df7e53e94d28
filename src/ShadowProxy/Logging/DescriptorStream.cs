using System.Runtime.InteropServices;

namespace ShadowProxy.Logging;

/// <summary>
/// A write-only stream on an inherited descriptor (1 or 2) that writes with write(2) itself. Not Console's streams
/// (one process-wide lock for stdout and stderr together), and not a FileStream (on a regular file it writes at a
/// position of its own, so `> file 2>&1` would have stdout and stderr overwrite each other; on a non-blocking
/// descriptor it fails instead of waiting). Like write(2) from C: the descriptor's own offset (O_APPEND honoured),
/// EINTR retried, EAGAIN waited out with poll(2), EPIPE and the rest an IOException.
/// </summary>
internal sealed partial class DescriptorStream(int descriptor) : Stream
{
    private const int Interrupted = 4;     // EINTR
    private const int WouldBlock = 11;     // EAGAIN, EWOULDBLOCK on Linux
    private const short PollOut = 0x004;   // POLLOUT

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            nint written = SystemWrite(descriptor, ref MemoryMarshal.GetReference(buffer), buffer.Length);
            if (written >= 0)
            {
                buffer = buffer[(int)written..];
                continue;
            }

            int error = Marshal.GetLastPInvokeError();
            if (error == WouldBlock)
            {
                var wait = new PollDescriptor { Descriptor = descriptor, Events = PollOut };
                _ = SystemPoll(ref wait, 1, -1);
            }
            else if (error != Interrupted)
            {
                throw new IOException($"write to descriptor {descriptor} failed: {Marshal.GetPInvokeErrorMessage(error)}", error);
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <summary>Writes at once, on the caller's thread: the callers (the line writer, the diagnostics worker) have one of their own.</summary>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
        // Nothing is buffered.
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint SystemWrite(int descriptor, ref byte buffer, nint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int SystemPoll(ref PollDescriptor descriptors, nuint count, int timeoutMilliseconds);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Descriptor;
        public short Events;
        public short ReturnedEvents;
    }
}
