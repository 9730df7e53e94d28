using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace ShadowProxy.Logging;

/// <summary>
/// Takes the finished requests off the proxying path: one bounded queue, from which one background task formats the
/// lines in batches and hands each batch to every output (<see cref="StdoutLineOutput"/>, and with --log-file
/// <see cref="LogFileLineOutput"/>). Each output writes from a queue of its own, so a slow disk or a paused reader of
/// stdout holds up neither proxying nor the other output; each drops, counts and reports its own lines past its
/// bound. Disposing drains and flushes both.
/// </summary>
internal sealed class RequestLineWriter : IRequestLineSink, IAsyncDisposable
{
    /// <summary>Lines each output may hold waiting; at ~150 bytes each, at most ~10 MB for a stalled stdout.</summary>
    public const int DefaultCapacity = 64 * 1024;

    /// <summary>A batch is handed out at this size at the latest: outputs start on it sooner, and no batch array is large.</summary>
    private const int BatchBytes = 32 * 1024;

    /// <summary>
    /// After a batch is handed out the formatter rests this long, so that lines arriving meanwhile go out together:
    /// one wake-up and one write for many lines under load instead of one per request (each wake-up is a thread-pool
    /// hand-off that costs more than the line). A line written after an idle spell goes out at once.
    /// </summary>
    public static readonly TimeSpan BatchInterval = TimeSpan.FromMilliseconds(10);

    private readonly Channel<RequestRecord> _queue;
    private readonly LineFormat _format;
    private readonly ILogger _diagnostics;
    private readonly LineOutput[] _outputs;
    private readonly Task _formatting;
    private long _droppedBeforeOutputs;

    /// <param name="capacity">Each output's bound, in lines.</param>
    public RequestLineWriter(Stream output, LineFormat format, string? logFile, ILogger diagnostics, int capacity = DefaultCapacity)
        : this(output, format, logFile is null ? null : new LogFileLineOutput(logFile, diagnostics, capacity), diagnostics, capacity)
    {
    }

    /// <param name="logFileOutput">The --log-file output, made by the caller (tests: one whose disk stalls); null without.</param>
    internal RequestLineWriter(Stream output, LineFormat format, LineOutput? logFileOutput, ILogger diagnostics, int capacity)
    {
        _format = format;
        _diagnostics = diagnostics;
        Stdout = new StdoutLineOutput(output, diagnostics, capacity);
        LogFile = logFileOutput;
        _outputs = LogFile is null ? [Stdout] : [Stdout, LogFile];
        // The formatter never waits on an output, so this queue fills only if it gets no CPU; a line dropped here is
        // dropped for every output.
        _queue = Channel.CreateBounded<RequestRecord>(
            new BoundedChannelOptions(DefaultCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true },
            _ => Interlocked.Increment(ref _droppedBeforeOutputs));
        _formatting = Task.Run(FormatLinesAsync);
    }

    public LineOutput Stdout { get; }

    /// <summary>Null without --log-file.</summary>
    public LineOutput? LogFile { get; }

    public void Write(in RequestRecord record)
    {
        if (!_queue.Writer.TryWrite(record))
        {
            // Only after disposal (a full queue drops through the channel's callback): no output will get it.
            foreach (LineOutput output in _outputs)
            {
                output.CountDropped(1);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await AllWritten().ConfigureAwait(false);
    }

    /// <summary>
    /// For an exit that cannot wait (a second signal): returns within <paramref name="timeout"/> whatever the outputs
    /// do. The lines already queued get four fifths of it to be written (the file's writer closes, and so flushes, the
    /// file when it is done); then --log-file is closed all the same (its sink's buffer, flushed only once a second,
    /// written out), so that the lines of requests already answered are not lost from it. Lines still unwritten then
    /// are lost, quietly. Safe to call during, or before, disposal.
    /// </summary>
    public void Close(TimeSpan timeout)
    {
        long start = Stopwatch.GetTimestamp();
        _queue.Writer.TryComplete();
        try
        {
            _ = AllWritten().Wait(timeout - (timeout / 5));
        }
        catch (AggregateException)
        {
            // A writer failed: what it had is gone, and the file still gets flushed below.
        }

        if (LogFile is { } logFile)
        {
            try
            {
                // On another thread, waited for only until the budget is spent: closing flushes, and on a disk that
                // stalls (a hung NFS server) the flush, or the write it waits for, may never return. The writer's own
                // close, if it got there first, is waited for the same way.
                TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
                _ = Task.WhenAll(ThreadOfItsOwn.Run("ShadowProxy --log-file close", logFile.Close), logFile.Writing).Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }
            catch (AggregateException)
            {
                // The writer or the close failed (FailureReportingSink reports what the sink throws): the exit goes on.
            }
        }
    }

    /// <summary>Ends when the formatter and every output have written what they were given.</summary>
    private Task AllWritten() => Task.WhenAll([_formatting, .. _outputs.Select(output => output.Writing)]);

    private async Task FormatLinesAsync()
    {
        try
        {
            var buffer = new ArrayBufferWriter<byte>(BatchBytes * 2);
            using var json = _format == LineFormat.Json ? new JsonRequestLine() : null;
            int lines = 0;
            long countedDrops = 0;
            while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_queue.Reader.TryRead(out RequestRecord record))
                {
                    if (json is null)
                    {
                        TextRequestLine.Write(record, buffer);
                    }
                    else
                    {
                        json.Write(record, buffer);
                    }

                    lines++;
                    if (buffer.WrittenCount >= BatchBytes)
                    {
                        HandOut(buffer, lines);
                        lines = 0;
                    }
                }

                HandOut(buffer, lines);
                lines = 0;
                countedDrops = CountDropsBeforeOutputs(countedDrops);
                ReportDrops(final: false);
                if (!_queue.Reader.Completion.IsCompleted)
                {
                    await Task.Delay(BatchInterval).ConfigureAwait(false);
                }
            }

            _ = CountDropsBeforeOutputs(countedDrops);
            ReportDrops(final: true);
        }
        finally
        {
            foreach (LineOutput output in _outputs)
            {
                output.Complete();
            }
        }
    }

    /// <summary>One copy of the batch, shared by the outputs (each writes it at its own pace).</summary>
    private void HandOut(ArrayBufferWriter<byte> buffer, int lines)
    {
        if (lines == 0)
        {
            return;
        }

        LineBatch batch = LineBatch.Copy(buffer.WrittenSpan, lines, holders: _outputs.Length);
        buffer.ResetWrittenCount();
        foreach (LineOutput output in _outputs)
        {
            output.Offer(batch);
        }
    }

    /// <returns>How many of this queue's drops the outputs have been told of.</returns>
    private long CountDropsBeforeOutputs(long counted)
    {
        long dropped = Interlocked.Read(ref _droppedBeforeOutputs);
        if (dropped != counted)
        {
            foreach (LineOutput output in _outputs)
            {
                output.CountDropped(dropped - counted);
            }
        }

        return dropped;
    }

    private void ReportDrops(bool final)
    {
        foreach (LineOutput output in _outputs)
        {
            output.ReportDrops(_diagnostics, final);
        }
    }
}
