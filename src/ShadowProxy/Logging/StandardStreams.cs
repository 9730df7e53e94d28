namespace ShadowProxy.Logging;

/// <summary>
/// stdout (request lines) and stderr (diagnostics), written with write(2) on descriptors 1 and 2
/// (<see cref="DescriptorStream"/>). Not Console's streams: on Unix every Console write, to either, takes one
/// process-wide lock, so a stderr that nobody reads (a paused terminal, a stuck collector) held the request lines
/// back behind a diagnostic blocked in its write, and at exit the runtime's flush of Console waited on the same lock.
/// </summary>
internal static class StandardStreams
{
    public static Stream OpenOutput() => new DescriptorStream(1);

    public static Stream OpenError() => new DescriptorStream(2);
}
