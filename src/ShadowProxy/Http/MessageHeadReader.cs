using System.Buffers;
using System.IO.Pipelines;

namespace ShadowProxy.Http;

/// <summary>
/// Reads one message head (start line, fields, empty line) from a pipe, whatever reads it arrives in, and copies it
/// into the caller's scratch buffer. The head is consumed; the bytes after it (a body, the next request) stay in the pipe.
/// </summary>
internal static class MessageHeadReader
{
    /// <summary>
    /// Reads a head of at most <paramref name="maxHeadBytes"/> bytes into <paramref name="scratch"/>. A canceled read
    /// (<see cref="PipeReader.CancelPendingRead"/>) ends it as <see cref="HeadReadStatus.ClientClosed"/> only while no
    /// byte of the head has arrived.
    /// </summary>
    /// <param name="firstByte">Called once, when the head's first byte is seen (e.g. to start a head timeout).</param>
    /// <param name="growFrom">
    /// When given, <paramref name="scratch"/> may be smaller than <paramref name="maxHeadBytes"/>, even empty: a head that
    /// does not fit is copied into an array rented from this pool, at the head's size (<see cref="HeadRead.Grown"/>).
    /// An empty scratch means nothing is held while the head is awaited.
    /// </param>
    /// <param name="failureCutsHead">
    /// A read that fails (a reset) after part of the head has arrived ends as <see cref="HeadReadStatus.Truncated"/>,
    /// with those bytes and the failure (<see cref="HeadRead.Failure"/>), instead of throwing: a backend whose answer is
    /// cut by a reset has seen the request as surely as one whose answer is cut by a close.
    /// </param>
    /// <returns>The outcome, the head's length in <paramref name="scratch"/>, and when its first byte was seen.</returns>
    public static async ValueTask<HeadRead> ReadAsync(
        PipeReader input,
        byte[] scratch,
        int maxHeadBytes,
        TimeProvider time,
        CancellationToken cancellationToken,
        Action? firstByte = null,
        ArrayPool<byte>? growFrom = null,
        bool failureCutsHead = false)
    {
        long firstByteTimestamp = 0;
        int arrived = 0;   // bytes of the head already seen, before the read now awaited
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (failureCutsHead && arrived > 0 && ex is IOException or System.Net.Sockets.SocketException)
            {
                return new HeadRead(HeadReadStatus.Truncated, arrived, firstByteTimestamp) { Failure = ex };
            }

            ReadOnlySequence<byte> buffer = SkipLeadingEmptyLines(result.Buffer);
            if (firstByteTimestamp == 0 && !buffer.IsEmpty)
            {
                firstByteTimestamp = time.GetTimestamp();
                firstByte?.Invoke();
            }

            var reader = new SequenceReader<byte>(buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> _, HttpChars.EndOfHead))
            {
                long length = reader.Consumed;
                if (length > maxHeadBytes)
                {
                    input.AdvanceTo(reader.Position);
                    return new HeadRead(HeadReadStatus.TooLarge, 0, firstByteTimestamp);
                }

                // Copy before AdvanceTo: after it, the pipe may hand that memory to someone else.
                byte[]? grown = length > scratch.Length && growFrom is not null ? growFrom.Rent((int)length) : null;
                buffer.Slice(0, reader.Position).CopyTo(grown ?? scratch);
                input.AdvanceTo(reader.Position);
                return new HeadRead(HeadReadStatus.Complete, (int)length, firstByteTimestamp, grown);
            }

            if (HasBareLineFeed(buffer))
            {
                // A line ended by LF alone: a lenient parser would see a head end here that the strict one never finds.
                input.AdvanceTo(buffer.End);
                return new HeadRead(HeadReadStatus.Malformed, 0, firstByteTimestamp);
            }

            // A canceled read (CancelPendingRead) stops the wait for a head that has not begun; one that has begun is
            // a request on its way, read to its end within the caller's timeout.
            if (buffer.Length >= maxHeadBytes || result.IsCompleted || (result.IsCanceled && buffer.IsEmpty))
            {
                // Decide before AdvanceTo: after it the buffer's segments may be recycled, and its Length with them.
                HeadReadStatus status = buffer.Length >= maxHeadBytes ? HeadReadStatus.TooLarge
                    : buffer.IsEmpty ? HeadReadStatus.ClientClosed
                    : HeadReadStatus.Truncated;
                int cut = status == HeadReadStatus.Truncated ? (int)buffer.Length : 0;
                input.AdvanceTo(buffer.End);
                return new HeadRead(status, cut, firstByteTimestamp);
            }

            arrived = (int)buffer.Length;   // before AdvanceTo, as above
            // Consumed the empty lines, examined everything: the next ReadAsync waits for new bytes instead of spinning.
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Gives a scratch that came from the pool (a <see cref="HeadRead.Grown"/> the caller kept) back to it, and leaves
    /// the caller an empty one; an empty scratch is left as it is. For callers that hold a head only while they use it.
    /// </summary>
    public static void ReturnScratch(ref byte[] scratch, ArrayPool<byte> pool)
    {
        if (scratch.Length > 0)
        {
            pool.Return(scratch);
            scratch = [];
        }
    }

    /// <summary>An LF not preceded by CR (RFC 9112 §2.2 lets a server reject it; a proxy must, or it reads a head differently than its backends).</summary>
    private static bool HasBareLineFeed(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.TryAdvanceTo((byte)'\n', advancePastDelimiter: false))
        {
            if (reader.Consumed == 0)
            {
                return true;
            }

            reader.Rewind(1);
            reader.TryRead(out byte before);
            if (before != '\r')
            {
                return true;
            }

            reader.Advance(1);
        }

        return false;
    }

    /// <summary>RFC 9112 §2.2: a server should ignore empty lines before a request line (some clients send a CRLF after a body).</summary>
    private static ReadOnlySequence<byte> SkipLeadingEmptyLines(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.IsNext(HttpChars.CrLf, advancePast: true))
        {
        }

        return buffer.Slice(reader.Position);
    }
}

