namespace ShadowProxy.Reporting;

/// <summary>
/// Splits a stream into lines inside one fixed buffer: each line is handed out as a span over that buffer, valid until
/// the next call, so reading a gigabyte log allocates nothing per line. A line that does not fit in the buffer is
/// skipped up to its newline and reported as <see cref="LineReadStatus.TooLong"/>.
/// </summary>
internal sealed class LogLineReader
{
    /// <summary>A request line is a URL (at most the proxy's 32 KiB head) plus a few numbers; 1 MiB leaves room for json.</summary>
    public const int DefaultBufferBytes = 1024 * 1024;

    private readonly Stream _input;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;
    private bool _endOfInput;
    private bool _skippingLongLine;

    public LogLineReader(Stream input, int bufferBytes = DefaultBufferBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, 2);
        _input = input;
        _buffer = new byte[bufferBytes];
    }

    /// <summary>Bytes read from the stream so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>Bytes up to the end of the line last returned: how far through the input the caller is.</summary>
    public long Position => BytesRead - (_end - _start);

    /// <summary>The 1-based number of the line last returned (including skipped ones).</summary>
    public long LineNumber { get; private set; }

    public LineReadStatus Read(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                line = _buffer.AsSpan(_start, newline);
                _start += newline + 1;
                return Complete(ref line);
            }

            if (_endOfInput)
            {
                if (_start == _end && !_skippingLongLine)
                {
                    line = default;
                    return LineReadStatus.End;
                }

                // The last line has no newline.
                line = _buffer.AsSpan(_start, _end - _start);
                _start = _end;
                return Complete(ref line);
            }

            Fill();
        }
    }

    private LineReadStatus Complete(ref ReadOnlySpan<byte> line)
    {
        LineNumber++;
        if (_skippingLongLine)
        {
            _skippingLongLine = false;
            line = default;
            return LineReadStatus.TooLong;
        }

        if (!line.IsEmpty && line[^1] == (byte)'\r')
        {
            line = line[..^1];
        }

        return LineReadStatus.Line;
    }

    private void Fill()
    {
        if (_start > 0)
        {
            // Keep the partial line, move it to the front.
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            // A whole buffer and no newline: drop what we have and skip to the next newline.
            _skippingLongLine = true;
            _end = 0;
        }

        int read = _input.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            _endOfInput = true;
        }

        _end += read;
        BytesRead += read;
    }
}
