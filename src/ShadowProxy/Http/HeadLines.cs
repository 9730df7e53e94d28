namespace ShadowProxy.Http;

/// <summary>Walks the CRLF-terminated lines of a message head; a bare CR or LF ends the walk as malformed.</summary>
internal ref struct HeadLines
{
    private readonly ReadOnlySpan<byte> _head;
    private int _position;

    public HeadLines(ReadOnlySpan<byte> head)
    {
        _head = head;
    }

    /// <summary>Everything after the line last read.</summary>
    public readonly ReadOnlySpan<byte> Rest => _head[_position..];

    /// <summary>Reads the next line without its CRLF; false at the end or at a bare CR or LF.</summary>
    public bool TryNext(out ReadOnlySpan<byte> line)
    {
        ReadOnlySpan<byte> rest = _head[_position..];
        int end = rest.IndexOfAny((byte)'\r', (byte)'\n');
        if (end < 0 || rest[end] != '\r' || end + 1 >= rest.Length || rest[end + 1] != '\n')
        {
            line = default;
            return false;
        }

        line = rest[..end];
        _position += end + 2;
        return true;
    }

    /// <summary>Splits a header line into its name and its value without surrounding whitespace.</summary>
    public static bool TrySplitField(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        int colon = line.IndexOf((byte)':');
        name = colon > 0 ? line[..colon] : default;
        value = colon > 0 ? line[(colon + 1)..].Trim(HttpChars.OptionalWhitespace) : default;

        // No whitespace may stand before the colon (RFC 9112 §5.1), and a line starting with whitespace is obs-fold.
        return colon > 0 && !name.ContainsAnyExcept(HttpChars.Token) && !value.ContainsAny(HttpChars.InvalidInFieldValue);
    }
}
