using System.Buffers;
using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Configuration;
using Serilog.Core;
using ILogger = Microsoft.Extensions.Logging.ILogger;

namespace ShadowProxy.Logging;

/// <summary>
/// Writes request lines to stdout (and, with --log-file, through Serilog's rolling file sink) from one background
/// task, so that a slow disk or a paused reader of stdout never holds up proxying. The queue is bounded: when it
/// is full a line is dropped and counted, and the count is reported on stderr. Disposing drains and flushes.
/// </summary>
internal sealed partial class RequestLineWriter : IRequestLineSink, IAsyncDisposable
{
    /// <summary>Lines waiting to be written; at ~150 bytes each, at most ~10 MB held for a stalled stdout.</summary>
    public const int DefaultCapacity = 64 * 1024;

    private const int FlushThresholdBytes = 32 * 1024;

    /// <summary>
    /// After a batch is written the writer rests this long, so that lines arriving meanwhile go out together: one
    /// wake-up and one write for many lines under load instead of one per request (each wake-up is a thread-pool
    /// hand-off that costs more than the line). A line written after an idle spell goes out at once.
    /// </summary>
    public static readonly TimeSpan BatchInterval = TimeSpan.FromMilliseconds(10);
    private const string LineOnly = "{Message:l}{NewLine}";

    private readonly Channel<RequestRecord> _queue;
    private readonly Stream _output;
    private readonly LineFormat _format;
    private readonly Logger? _file;
    private readonly ILogger _diagnostics;
    private readonly Task _writing;
    private long _dropped;
    private long _written;
    private bool _stdoutFailed;
    private int _fileClosed;

    public RequestLineWriter(Stream output, LineFormat format, string? logFile, ILogger diagnostics, int capacity = DefaultCapacity)
    {
        _output = output;
        _format = format;
        _diagnostics = diagnostics;
        _file = logFile is null ? null : new LoggerConfiguration()
            .WriteTo.Sink(new FailureReportingSink(
                LoggerSinkConfiguration.CreateSink(sink => sink.File(
                    logFile,
                    outputTemplate: LineOnly,
                    formatProvider: CultureInfo.InvariantCulture,
                    rollingInterval: RollingInterval.Day,
                    retainedFileCountLimit: 31,
                    buffered: true,
                    flushToDiskInterval: TimeSpan.FromSeconds(1))),
                new LogFileFailureReporter(logFile, diagnostics, TimeProvider.System)))
            .CreateLogger();
        _queue = Channel.CreateBounded<RequestRecord>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true },
            _ => Interlocked.Increment(ref _dropped));
        _writing = Task.Run(WriteLinesAsync);
    }

    /// <summary>
    /// Opens the file the rolling sink writes today (creating it and its directory), and closes it again. The sink
    /// itself opens it only at the first line, when a failure can only be reported (<see cref="LogFileFailureReporter"/>),
    /// so a path that cannot be written is found here, at start-up, where it stops the proxy with one line.
    /// </summary>
    public static bool TryOpenLogFile(string logFile, out string problem)
    {
        problem = "";
        try
        {
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

    /// <summary>Lines written so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Lines dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Write(in RequestRecord record)
    {
        if (!_queue.Writer.TryWrite(record))
        {
            // Only after disposal: a full queue drops through the channel's callback.
            Interlocked.Increment(ref _dropped);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writing.ConfigureAwait(false);
        CloseFile();
    }

    /// <summary>
    /// For an exit that cannot wait (a second signal): the lines already queued get up to <paramref name="timeout"/>
    /// to be written, and the file sink's buffer (flushed only once a second) is written out either way, so that the
    /// lines of requests already answered are not lost from --log-file. Safe to call during, or before, disposal.
    /// </summary>
    public void Close(TimeSpan timeout)
    {
        _queue.Writer.TryComplete();
        try
        {
            _ = _writing.Wait(timeout);
        }
        catch (AggregateException)
        {
            // The writer failed: what it had is gone, and the file still gets flushed below.
        }

        CloseFile();
    }

    private void CloseFile()
    {
        if (Interlocked.Exchange(ref _fileClosed, 1) == 0)
        {
            _file?.Dispose();
        }
    }

    private async Task WriteLinesAsync()
    {
        var buffer = new ArrayBufferWriter<byte>(FlushThresholdBytes * 2);
        using var json = _format == LineFormat.Json ? new JsonRequestLine() : null;
        long reportedDrops = 0;
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Batch what is queued into one write: one syscall for many lines under load.
            while (_queue.Reader.TryRead(out RequestRecord record))
            {
                int start = buffer.WrittenCount;
                if (json is null)
                {
                    TextRequestLine.Write(record, buffer);
                }
                else
                {
                    json.Write(record, buffer);
                }

                _file?.Information("{Line:l}", Encoding.UTF8.GetString(buffer.WrittenSpan[start..^1]));
                Interlocked.Increment(ref _written);
                if (buffer.WrittenCount >= FlushThresholdBytes)
                {
                    await FlushAsync(buffer).ConfigureAwait(false);
                }
            }

            await FlushAsync(buffer).ConfigureAwait(false);
            long dropped = Dropped;
            if (dropped != reportedDrops)
            {
                LinesDropped(_diagnostics, dropped - reportedDrops, dropped);
                reportedDrops = dropped;
            }

            if (!_queue.Reader.Completion.IsCompleted)
            {
                await Task.Delay(BatchInterval).ConfigureAwait(false);
            }
        }
    }

    private async Task FlushAsync(ArrayBufferWriter<byte> buffer)
    {
        if (buffer.WrittenCount > 0 && !_stdoutFailed)
        {
            try
            {
                // Whole lines, at most PIPE_BUF bytes per write (a longer line goes alone: it cannot be atomic anyway).
                ReadOnlyMemory<byte> rest = buffer.WrittenMemory;
                while (!rest.IsEmpty)
                {
                    int length = StandardStreams.WholeLinesPiece(rest.Span);
                    if (length == 0)
                    {
                        int end = rest.Span.IndexOf((byte)'\n');   // the first line alone is longer
                        length = end >= 0 ? end + 1 : rest.Length;
                    }

                    await _output.WriteAsync(rest[..length]).ConfigureAwait(false);
                    rest = rest[length..];
                }

                await _output.FlushAsync().ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                // stdout is gone (its reader closed the pipe): nothing more can go there, but --log-file still gets every line.
                _stdoutFailed = true;
                StdoutFailed(_diagnostics, ex);
            }
        }

        buffer.ResetWrittenCount();
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "{Count} request lines dropped: the line queue was full ({Total} in all)")]
    private static partial void LinesDropped(ILogger logger, long count, long total);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Writing request lines to stdout failed; no more lines will be written there")]
    private static partial void StdoutFailed(ILogger logger, Exception exception);
}
