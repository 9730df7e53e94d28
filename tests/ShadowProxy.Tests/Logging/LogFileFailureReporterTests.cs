using Microsoft.Extensions.Logging;
using Serilog.Core;
using ShadowProxy.Logging;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Logging;

/// <summary>How often a failing --log-file is said on stderr: at once, then at most once a minute, counting, however many lines fail.</summary>
public sealed class LogFileFailureReporterTests
{
    [Fact]
    public void The_first_failure_is_reported_at_once_and_then_at_most_one_line_a_minute_with_the_count()
    {
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var reporter = new LogFileFailureReporter("/var/log/requests.log", diagnostics, time);

        Fail(reporter, new IOException("No space left on device"));
        for (int i = 0; i < 100; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(500));   // one line every half second: 50 s of them
            Fail(reporter, new IOException("No space left on device"));
        }

        reporter.OnLoggingFailed(this, LoggingFailureKind.Temporary, "file target x was locked, attempting to open next", events: null, exception: null);
        time.Advance(TimeSpan.FromSeconds(10));
        Fail(reporter, new IOException("Input/output error"));
        time.Advance(TimeSpan.FromMinutes(5));
        Fail(reporter, new IOException("No space left on device"));

        Assert.Equal(
            [
                "Writing request lines to --log-file '/var/log/requests.log' failed: No space left on device",
                "Writing request lines to --log-file '/var/log/requests.log' failed 101 more times since the last report, the latest: Input/output error",
                "Writing request lines to --log-file '/var/log/requests.log' failed: No space left on device",
            ],
            diagnostics.Errors);
    }

    [Fact]
    public void A_file_the_sink_could_not_open_is_reported_with_the_reason_the_sink_kept_to_itself()
    {
        using var directory = new TempDirectory();
        string logDirectory = directory.WriteLines("logs", "a plain file where the directory was");
        string logFile = Path.Combine(logDirectory, "requests.log");
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var reporter = new LogFileFailureReporter(logFile, diagnostics, time);

        CouldNotOpen(reporter);
        File.Delete(logDirectory);   // mended; the sink has not tried again yet
        time.Advance(LogFileFailureReporter.RepeatInterval);
        CouldNotOpen(reporter);

        Assert.Equal(2, diagnostics.Errors.Count);
        string failed = $"Writing request lines to --log-file '{logFile}' failed: the target file could not be opened or created";
        Assert.StartsWith(failed + ": ", diagnostics.Errors[0], StringComparison.Ordinal);
        Assert.Contains($"'{logDirectory}'", diagnostics.Errors[0][failed.Length..], StringComparison.Ordinal);
        Assert.Equal(failed + " (it opens now; the sink tries again 30 minutes after a failed open)", diagnostics.Errors[1]);
    }

    private void CouldNotOpen(LogFileFailureReporter reporter) =>
        reporter.OnLoggingFailed(this, LoggingFailureKind.Permanent, "the target file could not be opened or created", events: null, exception: null);

    private void Fail(LogFileFailureReporter reporter, Exception exception) =>
        reporter.OnLoggingFailed(this, LoggingFailureKind.Permanent, "writing failed", events: null, exception);
}
