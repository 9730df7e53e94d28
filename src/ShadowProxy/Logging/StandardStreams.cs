using Microsoft.Win32.SafeHandles;

namespace ShadowProxy.Logging;

/// <summary>
/// stdout (request lines) and stderr (diagnostics) written with plain write(2) calls on descriptors 1 and 2. Not
/// Console's streams: on Unix every Console write, to either, takes one process-wide lock, so a stderr that nobody
/// reads (a paused terminal, a stuck collector) held the request lines back behind a diagnostic blocked in its
/// write, and at exit the runtime's flush of Console waited on the same lock for good.
/// </summary>
internal static class StandardStreams
{
    /// <summary>An unbuffered stream on descriptor 1 that does not close it.</summary>
    public static Stream OpenOutput() => Open(1);

    /// <summary>A writer on descriptor 2 that does not close it, flushed after every write.</summary>
    public static TextWriter OpenError() => new StreamWriter(Open(2), new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { AutoFlush = true };

    private static FileStream Open(int descriptor) =>
        new(new SafeFileHandle(descriptor, ownsHandle: false), FileAccess.Write, bufferSize: 0);
}
