using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace ShadowProxy.Logging;

/// <summary>
/// One place the request lines go (stdout, --log-file), with its own queue and its own writing task: an output that
/// blocks (a stdout pipe nobody reads, a stalled disk) holds back neither the proxy nor the other output. The queue
/// is bounded in lines: a batch that does not fit is dropped for this output alone, counted, and reported on stderr.
/// </summary>
internal abstract partial class LineOutput
{
    /// <summary>After the first report of dropped lines, at most one more per interval while they go on: a stalled output must not flood stderr.</summary>
    public static readonly TimeSpan DropReportInterval = TimeSpan.FromSeconds(10);

    private readonly Channel<LineBatch> _queue = Channel.CreateUnbounded<LineBatch>(new() { SingleReader = true, SingleWriter = true });
    private readonly int _capacity;
    private readonly Task _writing;
    private long _queued;
    private long _written;
    private long _dropped;
    private long _reportedDrops;
    private long _lastDropReport;

    protected LineOutput(string name, int capacity)
    {
        Name = name;
        _capacity = capacity;
        _writing = Task.Run(WriteBatchesAsync);   // waits for the first batch, which comes after construction
    }

    /// <summary>How stderr names this output: "stdout", "--log-file".</summary>
    public string Name { get; }

    /// <summary>Lines handed to this output's write so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Lines this output never got: its queue was full (or, rarely, the writer's own).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Ends once every batch offered has been written and the output closed.</summary>
    public Task Writing => _writing;

    /// <summary>
    /// Queues <paramref name="batch"/>, or drops it when the lines already waiting and it would pass the bound. A batch
    /// larger than the bound still goes into an empty queue: the bound is in lines, a batch is at most the formatter's
    /// batch size, so what waits is at most the larger of the two. Called by the one formatting task only.
    /// </summary>
    public void Offer(LineBatch batch)
    {
        long queued = Interlocked.Read(ref _queued);
        if (queued > 0 && queued + batch.Lines > _capacity)
        {
            Interlocked.Add(ref _dropped, batch.Lines);
            batch.Release();
            return;
        }

        Interlocked.Add(ref _queued, batch.Lines);
        if (!_queue.Writer.TryWrite(batch))
        {
            batch.Release();   // completed, which comes after the formatter's last batch: not expected, but the bytes go back
        }
    }

    /// <summary>Counts lines dropped before they reached this output's queue.</summary>
    public void CountDropped(long lines) => Interlocked.Add(ref _dropped, lines);

    /// <summary>No more batches: the output writes what it has, then closes.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>
    /// Says on stderr how many lines this output dropped since the last report: the first drop at once, then at most
    /// once per <see cref="DropReportInterval"/>; <paramref name="final"/> says the rest regardless. Called by the
    /// formatting task only, which never waits on an output, so a stalled output's drops are said while it stalls.
    /// </summary>
    public void ReportDrops(ILogger diagnostics, bool final)
    {
        long dropped = Dropped;
        long now = Stopwatch.GetTimestamp();
        if (dropped == _reportedDrops
            || (!final && _lastDropReport != 0 && Stopwatch.GetElapsedTime(_lastDropReport, now) < DropReportInterval))
        {
            return;
        }

        LinesDropped(diagnostics, dropped - _reportedDrops, Name, dropped);
        _reportedDrops = dropped;
        _lastDropReport = now;
    }

    /// <summary>After the last batch, and at an exit that cannot wait for it (<see cref="RequestLineWriter.Close"/>).</summary>
    public virtual void Close()
    {
    }

    /// <summary>Writes one batch; may wait as long as the destination makes it (that holds back this output only).</summary>
    protected abstract ValueTask WriteAsync(LineBatch batch);

    private async Task WriteBatchesAsync()
    {
        try
        {
            await foreach (LineBatch batch in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
            {
                try
                {
                    await WriteAsync(batch).ConfigureAwait(false);
                }
                finally
                {
                    batch.Release();
                }

                // Out of the queue's count first: once Written shows a batch, the room it took is free again.
                Interlocked.Add(ref _queued, -batch.Lines);
                Interlocked.Add(ref _written, batch.Lines);
            }
        }
        finally
        {
            Close();
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "{Count} request lines dropped for {Output}: its queue was full ({Total} in all)")]
    private static partial void LinesDropped(ILogger logger, long count, string output, long total);
}
