using System.Buffers.Text;
using System.Text;

namespace ShadowProxy.Http;

/// <summary>
/// Parses one complete request head (request line, fields, the empty line) and decides how its body is framed.
/// Strict where leniency lets a request be read two ways (RFC 9112 §6.3, §11.2): such heads are rejected, never forwarded.
/// </summary>
internal static class RequestHeadParser
{
    public static bool TryParse(ReadOnlySpan<byte> head, out RequestHead request)
    {
        request = default;
        var lines = new HeadLines(head);
        if (!lines.TryNext(out ReadOnlySpan<byte> requestLine)
            || !TryParseRequestLine(requestLine, out ReadOnlySpan<byte> method, out ReadOnlySpan<byte> target, out HttpVersion version))
        {
            return false;
        }

        var fields = new FieldSummary();
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

            if (!HeadLines.TrySplitField(line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value) || !fields.TryAdd(name, value))
            {
                return false;
            }
        }

        if (!lines.Rest.IsEmpty || !fields.TryDecideFraming(version, out BodyKind body))
        {
            return false;
        }

        string methodName = KnownMethods.Name(method);
        bool isConnect = ReferenceEquals(methodName, KnownMethods.Connect);
        if (!IsTargetFormAllowed(target, methodName, isConnect))
        {
            return false;
        }

        int query = target.IndexOf((byte)'?');
        request = new RequestHead(
            methodName,
            Encoding.ASCII.GetString(target),
            query < 0 ? target.Length : query,
            version,
            body,
            fields.ContentLength,
            ClientWantsClose: fields.ConnectionClose || (version == HttpVersion.Http10 && !fields.ConnectionKeepAlive),
            IsUpgrade: fields.ConnectionUpgrade && fields.HasUpgrade && version == HttpVersion.Http11,   // ignored in 1.0 (RFC 9110 §7.8)
            ExpectsContinue: fields.ExpectsContinue);
        return true;
    }

    private static bool TryParseRequestLine(
        ReadOnlySpan<byte> line, out ReadOnlySpan<byte> method, out ReadOnlySpan<byte> target, out HttpVersion version)
    {
        target = default;
        version = default;
        int methodEnd = line.IndexOf((byte)' ');
        method = methodEnd > 0 ? line[..methodEnd] : default;
        if (methodEnd <= 0 || method.ContainsAnyExcept(HttpChars.Token))
        {
            return false;
        }

        ReadOnlySpan<byte> rest = line[(methodEnd + 1)..];
        int targetEnd = rest.IndexOf((byte)' ');
        if (targetEnd <= 0 || rest[..targetEnd].ContainsAnyExcept(HttpChars.TargetChars))
        {
            return false;
        }

        target = rest[..targetEnd];
        ReadOnlySpan<byte> versionText = rest[(targetEnd + 1)..];
        if (versionText.SequenceEqual("HTTP/1.1"u8))
        {
            version = HttpVersion.Http11;
            return true;
        }

        version = HttpVersion.Http10;
        return versionText.SequenceEqual("HTTP/1.0"u8);
    }

    private static bool IsTargetFormAllowed(ReadOnlySpan<byte> target, string method, bool isConnect)
    {
        if (isConnect)
        {
            return IsAuthorityForm(target);
        }

        return target[0] == '/'
            || (target.Length == 1 && target[0] == '*' && ReferenceEquals(method, KnownMethods.Options))
            || IsAbsoluteForm(target);
    }

    /// <summary>An absolute-form target (RFC 9112 §3.2.2): http:// or https://, any case, then the authority.</summary>
    public static bool IsAbsoluteForm(ReadOnlySpan<byte> target) =>
        StartsWithIgnoreCase(target, "http://"u8) || StartsWithIgnoreCase(target, "https://"u8);

    /// <summary>
    /// CONNECT's authority-form, host ":" port and nothing else (RFC 9112 §3.2.3): a reg-name or IPv4 address, or an
    /// IPv6 address in brackets, and a port of digits.
    /// </summary>
    private static bool IsAuthorityForm(ReadOnlySpan<byte> target)
    {
        int colon = target.LastIndexOf((byte)':');
        if (colon <= 0 || colon == target.Length - 1 || target[(colon + 1)..].ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            return false;
        }

        ReadOnlySpan<byte> host = target[..colon];
        return host[0] == '['
            ? host.Length > 2 && host[^1] == ']' && !host[1..^1].ContainsAnyExcept(HttpChars.IpLiteralChars)
            : !host.ContainsAnyExcept(HttpChars.HostChars);
    }

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> prefix) =>
        text.Length >= prefix.Length && System.Text.Ascii.EqualsIgnoreCase(text[..prefix.Length], prefix);

    /// <summary>The fields that decide framing and connection handling, gathered in one pass.</summary>
    private ref struct FieldSummary
    {
        public long ContentLength;
        public bool ConnectionClose;
        public bool ConnectionKeepAlive;
        public bool ConnectionUpgrade;
        public bool HasUpgrade;
        public bool ExpectsContinue;
        private bool _hasContentLength;
        private bool _hasTransferEncoding;
        private bool _chunkedIsLast;
        private int _chunkedCount;
        private int _hostCount;

        public bool TryAdd(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
        {
            if (FieldNames.Is(name, FieldNames.ContentLength))
            {
                // Two different lengths could frame the body two ways: reject (RFC 9112 §6.3 step 5).
                if (!FieldValues.TryParseContentLength(value, out long length) || (_hasContentLength && length != ContentLength))
                {
                    return false;
                }

                _hasContentLength = true;
                ContentLength = length;
            }
            else if (FieldNames.Is(name, FieldNames.TransferEncoding))
            {
                _hasTransferEncoding = true;
                foreach (Range range in value.Split((byte)','))
                {
                    bool isChunked = System.Text.Ascii.EqualsIgnoreCase(value[range].Trim(HttpChars.OptionalWhitespace), "chunked"u8);
                    _chunkedCount += isChunked ? 1 : 0;
                    _chunkedIsLast = isChunked;
                }
            }
            else if (FieldNames.Is(name, FieldNames.Connection))
            {
                ConnectionOptions options = FieldValues.ParseConnectionOptions(value);
                ConnectionClose |= options.HasFlag(ConnectionOptions.Close);
                ConnectionKeepAlive |= options.HasFlag(ConnectionOptions.KeepAlive);
                ConnectionUpgrade |= options.HasFlag(ConnectionOptions.Upgrade);
            }
            else if (FieldNames.Is(name, FieldNames.Host))
            {
                _hostCount++;
            }
            else if (FieldNames.Is(name, FieldNames.Upgrade))
            {
                HasUpgrade = true;
            }
            else if (FieldNames.Is(name, FieldNames.Expect))
            {
                ExpectsContinue |= System.Text.Ascii.EqualsIgnoreCase(value, "100-continue"u8);
            }

            return true;
        }

        public readonly bool TryDecideFraming(HttpVersion version, out BodyKind body)
        {
            body = BodyKind.None;
            bool hostValid = version == HttpVersion.Http11 ? _hostCount == 1 : _hostCount <= 1;
            if (!hostValid)
            {
                return false;
            }

            if (_hasTransferEncoding)
            {
                // Chunked must be the one, final coding; with Content-Length too, or on HTTP/1.0, the framing is ambiguous.
                body = BodyKind.Chunked;
                return !_hasContentLength && version == HttpVersion.Http11 && _chunkedCount == 1 && _chunkedIsLast;
            }

            body = _hasContentLength && ContentLength > 0 ? BodyKind.ContentLength : BodyKind.None;
            return true;
        }
    }
}
