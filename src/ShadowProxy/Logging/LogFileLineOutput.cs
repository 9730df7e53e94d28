using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Configuration;
using Serilog.Core;
using ILogger = Microsoft.Extensions.Logging.ILogger;

namespace ShadowProxy.Logging;

/// <summary>
/// The request lines in --log-file, through Serilog's file sink (rolled daily, 31 kept, no size limit, buffered and flushed to disk
/// once a second). Its failures go to stderr through <see cref="LogFileFailureReporter"/>; closing flushes the buffer.
/// </summary>
internal sealed class LogFileLineOutput : LineOutput
{
    private const string LineOnly = "{Message:l}{NewLine}";

    private readonly Logger _file;
    private int _closed;

    public LogFileLineOutput(string logFile, ILogger diagnostics, int capacity)
        : this(logFile, FileSink(logFile), diagnostics, capacity)
    {
    }

    /// <param name="file">What writes the file: Serilog's file sink, or in tests one that stalls like a disk.</param>
    internal LogFileLineOutput(string logFile, ILogEventSink file, ILogger diagnostics, int capacity)
        : base("--log-file", capacity)
    {
        _file = new LoggerConfiguration()
            .WriteTo.Sink(new FailureReportingSink(file, new LogFileFailureReporter(logFile, diagnostics, TimeProvider.System)))
            .CreateLogger();
    }

    /// <summary>
    /// Opens the file the rolling sink writes today (creating it and its directory), and closes it again. The sink
    /// itself opens it only at the first line, when a failure can only be reported (<see cref="LogFileFailureReporter"/>),
    /// so a path that cannot be written is found here, at start-up, where it stops the proxy with one line.
    /// </summary>
    public static bool TryOpen(string logFile, out string problem)
    {
        problem = "";
        try
        {
            // The sink puts the date inside the file name: given a directory, it wrote beside it (/var/log/shadowproxy
            // became /var/log/shadowproxy20261126) or, with a trailing '/', files named 20261126 in it.
            if (Path.EndsInDirectorySeparator(logFile) || Directory.Exists(logFile))
            {
                problem = "it is a directory: name a file in it (requests.log is written as requests20261126.log, one a day)";
                return false;
            }

            string path = Path.GetFullPath(logFile);
            string directory = Path.GetDirectoryName(path) ?? path;
            Directory.CreateDirectory(directory);
            // RollingInterval.Day: requests.log is written as requests20261126.log, by the local date.
            string today = Path.Combine(
                directory,
                Path.GetFileNameWithoutExtension(path) + DateTime.Now.ToString("yyyyMMdd", CultureInfo.InvariantCulture) + Path.GetExtension(path));
            using (new FileStream(today, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
            {
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            problem = ex.Message;
            return false;
        }
    }

    /// <summary>Serilog's rolling file sink as --log-file uses it.</summary>
    internal static ILogEventSink FileSink(string logFile) =>
        LoggerSinkConfiguration.CreateSink(sink => sink.File(
            logFile,
            outputTemplate: LineOnly,
            formatProvider: CultureInfo.InvariantCulture,
            rollingInterval: RollingInterval.Day,
            retainedFileCountLimit: 31,
            fileSizeLimitBytes: null,   // the sink's default, 1 GB, drops every later line of the day without a word
            buffered: true,
            flushToDiskInterval: TimeSpan.FromSeconds(1)));

    /// <summary>Flushes and closes the file, once: after the last batch, or at an exit that cannot wait (the sink's buffer is a second's worth).</summary>
    public override void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _file.Dispose();
        }
    }

    protected override ValueTask WriteAsync(LineBatch batch)
    {
        ReadOnlySpan<byte> rest = batch.Bytes.Span;
        while (!rest.IsEmpty)
        {
            if (Volatile.Read(ref _closed) != 0)
            {
                // Closed under this writer by an exit that could not wait for it: the rest is lost, quietly.
                break;
            }

            int end = rest.IndexOf((byte)'\n');
            int length = end >= 0 ? end : rest.Length;
            _file.Information("{Line:l}", Encoding.UTF8.GetString(rest[..length]));
            rest = rest[Math.Min(length + 1, rest.Length)..];
        }

        return ValueTask.CompletedTask;
    }
}
