namespace ShadowProxy.Http;

/// <summary>
/// Copies a validated message head minus its connection-scoped fields (Connection, Keep-Alive, Proxy-Connection),
/// plus one Connection field of the proxy's choosing before the empty line. Requests and responses alike:
/// those fields describe one hop (RFC 9110 §7.6.1), and each hop through the proxy gets its own.
/// </summary>
internal static class HeadRewriter
{
    public static ReadOnlySpan<byte> ConnectionClose => "Connection: close\r\n"u8;

    public static ReadOnlySpan<byte> ConnectionKeepAlive => "Connection: keep-alive\r\n"u8;

    public static ReadOnlySpan<byte> ConnectionUpgrade => "Connection: Upgrade\r\n"u8;

    /// <summary>The most the rewrite adds to a head; size destinations as head length plus this.</summary>
    public const int MaxGrowth = 32;

    /// <summary>Rewrites a validated head; an empty <paramref name="connectionField"/> adds no field. Returns the bytes written.</summary>
    /// <param name="dropContentLength">Leave out Content-Length too: a response's length that its Transfer-Encoding overrides.</param>
    public static int Rewrite(ReadOnlySpan<byte> head, ReadOnlySpan<byte> connectionField, Span<byte> destination, bool dropContentLength = false) =>
        Copy(head, connectionField, destination, replaceConnection: true, dropContentLength);

    /// <summary>
    /// Copies a validated head as it is, its own connection fields included, but without Content-Length: a response
    /// forwarded verbatim whose length its Transfer-Encoding overrides (RFC 9112 §6.3 item 3).
    /// </summary>
    public static int RemoveContentLength(ReadOnlySpan<byte> head, Span<byte> destination) =>
        Copy(head, [], destination, replaceConnection: false, dropContentLength: true);

    private static int Copy(
        ReadOnlySpan<byte> head, ReadOnlySpan<byte> connectionField, Span<byte> destination, bool replaceConnection, bool dropContentLength)
    {
        var lines = new HeadLines(head);
        int written = 0;
        bool isStartLine = true;
        while (lines.TryNext(out ReadOnlySpan<byte> line) && !line.IsEmpty)
        {
            if (!isStartLine && IsDropped(line, replaceConnection, dropContentLength))
            {
                continue;
            }

            isStartLine = false;
            line.CopyTo(destination[written..]);
            written += line.Length;
            HttpChars.CrLf.CopyTo(destination[written..]);
            written += 2;
        }

        connectionField.CopyTo(destination[written..]);
        written += connectionField.Length;
        HttpChars.CrLf.CopyTo(destination[written..]);
        return written + 2;
    }

    private static bool IsDropped(ReadOnlySpan<byte> line, bool connectionScoped, bool contentLength)
    {
        int colon = line.IndexOf((byte)':');
        ReadOnlySpan<byte> name = colon > 0 ? line[..colon] : default;
        return (connectionScoped && FieldNames.IsConnectionScoped(name)) || (contentLength && FieldNames.Is(name, FieldNames.ContentLength));
    }
}
