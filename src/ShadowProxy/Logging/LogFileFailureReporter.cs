using Microsoft.Extensions.Logging;
using Serilog.Core;
using Serilog.Events;
using ShadowProxy.Hosting;

namespace ShadowProxy.Logging;

/// <summary>
/// Says on stderr that the request lines could not be written to --log-file: a file the sink cannot open (at its first
/// line, or at the day's roll), a write or a flush that fails (a full disk). Start-up checks the file once; after
/// that the sink tells its failures only to this listener, and tells one per line for as long as they last; they are
/// said at the pace of <see cref="FailureReportPace"/>.
/// </summary>
internal sealed partial class LogFileFailureReporter(string logFile, ILogger diagnostics, TimeProvider time) : ILoggingFailureListener
{
    public static readonly TimeSpan RepeatInterval = FailureReportPace.Interval;

    private readonly string _logFile = OneLine.Quote(logFile);
    private readonly FailureReportPace _pace = new(time);

    public void OnLoggingFailed(object sender, LoggingFailureKind kind, string message, IReadOnlyCollection<LogEvent>? events, Exception? exception)
    {
        if (kind == LoggingFailureKind.Temporary && exception is null)
        {
            // The sink found a file name locked and tries the next one at once; if none will open, it says so.
            return;
        }

        if (!_pace.TryReport(out long unreported))
        {
            return;
        }

        string problem = OneLine.Text(exception?.Message ?? Diagnose(message));
        if (unreported == 0)
        {
            LogFileFailed(diagnostics, _logFile, problem);
        }
        else
        {
            LogFileStillFailing(diagnostics, _logFile, unreported + 1, problem);
        }
    }

    /// <summary>
    /// A failure without an exception is the sink saying that it could not open the file, having swallowed why (it
    /// takes most errors for a locked file and tries other names). The start-up check, tried now, says why; or that
    /// the file opens again, which the sink finds out only at its next try, half an hour after the failed one.
    /// </summary>
    private string Diagnose(string message) =>
        LogFileLineOutput.TryOpen(logFile, out string reason)
            ? $"{message} (it opens now; the sink tries again 30 minutes after a failed open)"
            : $"{message}: {reason}";

    [LoggerMessage(EventId = 302, Level = LogLevel.Error, Message = "Writing request lines to --log-file {LogFile} failed: {Problem}")]
    private static partial void LogFileFailed(ILogger logger, string logFile, string problem);

    [LoggerMessage(EventId = 303, Level = LogLevel.Error, Message = "Writing request lines to --log-file {LogFile} failed {Failures} more times since the last report, the latest: {Problem}")]
    private static partial void LogFileStillFailing(ILogger logger, string logFile, long failures, string problem);
}
