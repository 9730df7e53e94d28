using Microsoft.Extensions.Logging;
using ShadowProxy.Hosting;

namespace ShadowProxy.Logging;

/// <summary>
/// The request lines on stdout, in writes of whole lines of at most <see cref="StandardStreams.AtomicWriteBytes"/>, so
/// that with `2&gt;&amp;1` on a pipe no diagnostic lands inside a line. A stdout that is gone (its reader closed the
/// pipe) is reported once and written no more. One that fails for a while (`&gt;&gt; FILE` on a full disk: ENOSPC,
/// EDQUOT, EIO, EFBIG) loses the lines of the failed writes and gets the next ones again; its failures are said at the
/// pace of <see cref="FailureReportPace"/>, as --log-file's are.
/// </summary>
internal sealed partial class StdoutLineOutput(Stream output, ILogger diagnostics, int capacity) : LineOutput("stdout", capacity)
{
    // errno values (Linux) that a file on a disk gives while it is full or failing, and that may pass.
    private const int NoSpace = 28;        // ENOSPC
    private const int QuotaExceeded = 122; // EDQUOT
    private const int InputOutput = 5;     // EIO
    private const int FileTooLarge = 27;   // EFBIG

    private readonly FailureReportPace _pace = new(TimeProvider.System);
    private bool _gone;
    private bool _failing;

    protected override async ValueTask WriteAsync(LineBatch batch)
    {
        if (_gone)
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
            if (_failing)
            {
                _failing = false;
                StdoutRecovered(diagnostics, _pace.Reset());
            }
        }
        catch (IOException ex) when (ex.HResult is NoSpace or QuotaExceeded or InputOutput or FileTooLarge)
        {
            _failing = true;
            if (_pace.TryReport(out long unreported))
            {
                string problem = OneLine.Text(ex.Message);
                if (unreported == 0)
                {
                    StdoutFailing(diagnostics, problem);
                }
                else
                {
                    StdoutStillFailing(diagnostics, unreported + 1, problem);
                }
            }
        }
        catch (IOException ex)
        {
            // Nothing more can go there; --log-file, an output of its own, still gets every line.
            _gone = true;
            StdoutFailed(diagnostics, ex);
        }
    }

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Writing request lines to stdout failed; no more lines will be written there")]
    private static partial void StdoutFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 304, Level = LogLevel.Error, Message = "Writing request lines to stdout failed: {Problem}; their lines are lost, and the next ones are tried again")]
    private static partial void StdoutFailing(ILogger logger, string problem);

    [LoggerMessage(EventId = 305, Level = LogLevel.Error, Message = "Writing request lines to stdout failed {Failures} more times since the last report, the latest: {Problem}")]
    private static partial void StdoutStillFailing(ILogger logger, long failures, string problem);

    [LoggerMessage(EventId = 306, Level = LogLevel.Warning, Message = "Writing request lines to stdout works again ({Failures} more failed writes since the last report)")]
    private static partial void StdoutRecovered(ILogger logger, long failures);
}
