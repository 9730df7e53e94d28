using System.Diagnostics;
using Serilog.Core;
using Serilog.Events;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Logging;

/// <summary>Tests that hold every thread-pool thread: alone, so that no other test waits on the pool meanwhile.</summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class StarvedThreadPool
{
    public const string Collection = "starved thread pool";
}

/// <summary>
/// <see cref="RequestLineWriter.Close"/> at a second signal while the thread pool has no free thread: stdout's writer
/// blocked in write(2) on a pipe nobody reads holds a pool thread (<see cref="DescriptorStream"/> writes on the caller's
/// thread), and with one CPU (a container limited to one) that is the pool's only thread until it grows, about once a
/// second. The file's buffer must still be flushed within the bound.
/// </summary>
[Collection(StarvedThreadPool.Collection)]
public sealed class RequestLineWriterStarvedPoolTests
{
    private static readonly RequestRecord Record = new(
        DateTimeOffset.UnixEpoch, "GET", "/x", new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None), default);

    [Fact]
    public void Close_flushes_the_log_file_within_its_bound_though_no_thread_pool_thread_is_free()
    {
        var disk = new FlushedOnCloseSink();
        var diagnostics = new Microsoft.Extensions.Logging.Abstractions.NullLogger<RequestLineWriter>();
        var writer = new RequestLineWriter(
            new MemoryStream(),
            LineFormat.Text,
            new LogFileLineOutput("requests.log", disk, diagnostics, RequestLineWriter.DefaultCapacity),
            diagnostics,
            RequestLineWriter.DefaultCapacity);
        for (int i = 0; i < 100; i++)
        {
            writer.Write(Record);
        }

        Assert.True(SpinWait.SpinUntil(() => writer.LogFile!.Written == 100, TimeSpan.FromSeconds(10)), "the file's writer should take every line");

        var release = new ManualResetEventSlim();   // not disposed: blockers still queued take it after the test
        try
        {
            // Every pool thread (and each one the pool adds meanwhile) takes one of these and stays in it.
            for (int i = 0; i < 500; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(static state => ((ManualResetEventSlim)state!).Wait(), release, preferLocal: false);
            }

            Assert.True(SpinWait.SpinUntil(() => ThreadPool.PendingWorkItemCount > 0, TimeSpan.FromSeconds(10)), "the pool should be busy");

            // The signal's handler runs on a thread of its own, not the pool's.
            TimeSpan took = TimeSpan.Zero;
            var signal = new Thread(() =>
            {
                var watch = Stopwatch.StartNew();
                writer.Close(TimeSpan.FromMilliseconds(500));
                took = watch.Elapsed;
            });
            signal.Start();
            Assert.True(signal.Join(TimeSpan.FromSeconds(10)), "Close(500 ms) did not return");

            Assert.True(took < TimeSpan.FromSeconds(2), $"Close(500 ms) took {took}");
            Assert.True(disk.Flushed == 100, $"{disk.Flushed} of the 100 lines taken were flushed to the file when Close returned");
        }
        finally
        {
            release.Set();
        }
    }

    /// <summary>A buffered file: what it is given reaches the disk when it is closed.</summary>
    private sealed class FlushedOnCloseSink : ILogEventSink, IDisposable
    {
        private int _buffered;
        private int _flushed;

        public int Flushed => Volatile.Read(ref _flushed);

        public void Emit(LogEvent logEvent) => Interlocked.Increment(ref _buffered);

        public void Dispose() => Volatile.Write(ref _flushed, Volatile.Read(ref _buffered));
    }
}
