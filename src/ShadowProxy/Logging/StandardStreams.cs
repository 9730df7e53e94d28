namespace ShadowProxy.Logging;

/// <summary>
/// stdout (request lines) and stderr (diagnostics), written with write(2) on descriptors 1 and 2
/// (<see cref="DescriptorStream"/>). Not Console's streams: on Unix every Console write, to either, takes one
/// process-wide lock, so a stderr that nobody reads (a paused terminal, a stuck collector) held the request lines
/// back behind a diagnostic blocked in its write, and at exit the runtime's flush of Console waited on the same lock.
/// </summary>
internal static class StandardStreams
{
    /// <summary>
    /// PIPE_BUF on Linux: a write to a pipe of at most this many bytes is atomic. A larger one goes in parts when the
    /// pipe is full, and with `2&gt;&amp;1 | collector` (both streams on one pipe) the other stream's write could land
    /// inside one of its lines. Both writers send whole lines in pieces of at most this size.
    /// </summary>
    public const int AtomicWriteBytes = 4096;

    /// <summary>
    /// How much of <paramref name="rest"/> to write next: all of it when it fits in one atomic write, else the whole
    /// lines that do; 0 when its first line alone is longer (each writer has its own way with such a line).
    /// </summary>
    public static int WholeLinesPiece(ReadOnlySpan<byte> rest) =>
        rest.Length <= AtomicWriteBytes ? rest.Length : rest[..AtomicWriteBytes].LastIndexOf((byte)'\n') + 1;

    public static Stream OpenOutput() => new DescriptorStream(1);

    public static Stream OpenError() => new DescriptorStream(2);
}
