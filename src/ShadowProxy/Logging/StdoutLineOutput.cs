using Microsoft.Extensions.Logging;

namespace ShadowProxy.Logging;

/// <summary>
/// The request lines on stdout, in writes of whole lines of at most <see cref="StandardStreams.AtomicWriteBytes"/>, so
/// that with `2&gt;&amp;1` on a pipe no diagnostic lands inside a line. A stdout that fails (its reader closed the pipe)
/// is reported once and written no more.
/// </summary>
internal sealed partial class StdoutLineOutput(Stream output, ILogger diagnostics, int capacity) : LineOutput("stdout", capacity)
{
    private bool _failed;

    protected override async ValueTask WriteAsync(LineBatch batch)
    {
        if (_failed)
        {
            return;
        }

        try
        {
            ReadOnlyMemory<byte> rest = batch.Bytes;
            while (!rest.IsEmpty)
            {
                int length = StandardStreams.WholeLinesPiece(rest.Span);
                if (length == 0)
                {
                    // The first line alone is longer: it goes alone (it cannot be atomic anyway).
                    int end = rest.Span.IndexOf((byte)'\n');
                    length = end >= 0 ? end + 1 : rest.Length;
                }

                await output.WriteAsync(rest[..length]).ConfigureAwait(false);
                rest = rest[length..];
            }

            await output.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // Nothing more can go there; --log-file, an output of its own, still gets every line.
            _failed = true;
            StdoutFailed(diagnostics, ex);
        }
    }

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Writing request lines to stdout failed; no more lines will be written there")]
    private static partial void StdoutFailed(ILogger logger, Exception exception);
}
