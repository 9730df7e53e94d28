using System.Buffers.Text;

namespace ShadowProxy.Http;

/// <summary>Parses a backend's response head: its status and how its body is framed (RFC 9112 §6.3).</summary>
internal static class ResponseHeadParser
{
    public static bool TryParse(ReadOnlySpan<byte> head, bool answersHeadRequest, bool answersConnect, out ResponseHead response)
    {
        response = default;
        var lines = new HeadLines(head);
        if (!lines.TryNext(out ReadOnlySpan<byte> statusLine) || !TryParseStatusLine(statusLine, out HttpVersion version, out int status))
        {
            return false;
        }

        long contentLength = -1;
        bool transferEncoded = false, chunked = false, close = false, keepAlive = false;
        while (true)
        {
            if (!lines.TryNext(out ReadOnlySpan<byte> line))
            {
                return false;
            }

            if (line.IsEmpty)
            {
                break;
            }

            if (!HeadLines.TrySplitField(line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value))
            {
                return false;
            }

            if (FieldNames.Is(name, FieldNames.ContentLength))
            {
                if (!FieldValues.TryParseContentLength(value, out long length) || (contentLength >= 0 && length != contentLength))
                {
                    return false;
                }

                contentLength = length;
            }
            else if (FieldNames.Is(name, FieldNames.TransferEncoding))
            {
                transferEncoded = true;
                int lastComma = value.LastIndexOf((byte)',');
                chunked = System.Text.Ascii.EqualsIgnoreCase(value[(lastComma + 1)..].Trim(HttpChars.OptionalWhitespace), "chunked"u8);
                close |= !chunked;   // another final coding: the body runs to the close
            }
            else if (FieldNames.Is(name, FieldNames.Connection))
            {
                ConnectionOptions options = FieldValues.ParseConnectionOptions(value);
                close |= options.HasFlag(ConnectionOptions.Close);
                keepAlive |= options.HasFlag(ConnectionOptions.KeepAlive);
            }
        }

        // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 item 3): chunked last frames the body, any other
        // final coding runs it to the close, and the length is dropped when the head is forwarded.
        BodyKind body = answersHeadRequest || status is < 200 or 204 or 304 || (answersConnect && status is >= 200 and < 300)
            ? BodyKind.None
            : chunked ? BodyKind.Chunked
            : transferEncoded ? BodyKind.CloseDelimited
            : contentLength > 0 ? BodyKind.ContentLength
            : contentLength == 0 ? BodyKind.None
            : BodyKind.CloseDelimited;
        // Transfer-Encoding is HTTP/1.1's: an HTTP/1.0 message that has it is framed faultily, and its connection is
        // closed after it (RFC 9112 §6.1), whatever its Connection field says; reusing it could read its end two ways.
        bool serverWantsClose = close || body == BodyKind.CloseDelimited || (version == HttpVersion.Http10 && (!keepAlive || transferEncoded));
        response = new ResponseHead(
            status, body, Math.Max(contentLength, 0), serverWantsClose, version, LengthOverridden: transferEncoded && contentLength >= 0);
        return true;
    }

    /// <summary>Reads only the status of a status line: enough to log a response whose head is not fully wanted.</summary>
    public static bool TryParseStatusLine(ReadOnlySpan<byte> line, out HttpVersion version, out int status)
    {
        // "HTTP/1.x SSS" then, optionally, a space and a reason phrase.
        version = line.StartsWith("HTTP/1.1 "u8) ? HttpVersion.Http11 : HttpVersion.Http10;
        status = 0;
        if (line.Length < 12 || !(line.StartsWith("HTTP/1.1 "u8) || line.StartsWith("HTTP/1.0 "u8))
            || (line.Length > 12 && line[12] != ' '))
        {
            return false;
        }

        ReadOnlySpan<byte> digits = line.Slice(9, 3);
        if (digits.ContainsAnyExceptInRange((byte)'0', (byte)'9') || digits[0] is < (byte)'1' or > (byte)'5')
        {
            return false;
        }

        status = ((digits[0] - '0') * 100) + ((digits[1] - '0') * 10) + (digits[2] - '0');
        return true;
    }
}
