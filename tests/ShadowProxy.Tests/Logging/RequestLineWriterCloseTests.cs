using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Configuration;
using Serilog.Core;
using Serilog.Events;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Logging;

/// <summary>
/// <see cref="RequestLineWriter.Close"/>, the second signal's exit that cannot wait: it ends within its bound whatever
/// the disk under --log-file does, keeps the lines already written, and does not blame the disk for its own close.
/// </summary>
public sealed class RequestLineWriterCloseTests
{
    private static readonly RequestRecord Record = new(
        DateTimeOffset.UnixEpoch, "GET", "/x", new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None), default);

    [Fact]
    public async Task Close_returns_within_its_bound_though_closing_the_log_file_waits_on_a_stalled_disk()
    {
        var disk = new StalledDiskSink();
        var diagnostics = new RecordingLogger();
        RequestLineWriter writer = WriterWithLogFile(disk, diagnostics);
        try
        {
            writer.Write(Record);
            Assert.True(disk.WriteStarted.Wait(TimeSpan.FromSeconds(10)), "the file's write of the first line should have begun");

            // The file's writer stays in its write; closing the file (the sink's flush) waits for that write to end.
            var watch = Stopwatch.StartNew();
            Task closing = Task.Run(() => writer.Close(TimeSpan.FromMilliseconds(200)));
            Assert.True(await Task.WhenAny(closing, Task.Delay(TimeSpan.FromSeconds(5))) == closing, $"Close(200 ms) still waiting after {watch.Elapsed}: the exit hangs on the disk");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"Close(200 ms) took {watch.Elapsed}");
        }
        finally
        {
            disk.Recover();
        }
    }

    [Fact]
    public async Task After_Close_a_log_file_writer_still_writing_stops_quietly_and_no_failure_of_the_file_is_reported()
    {
        using var directory = new TempDirectory();
        string logFile = directory.File("requests.log");
        var disk = new HeldWritesSink(LogFileLineOutput.FileSink(logFile));
        var diagnostics = new RecordingLogger();
        RequestLineWriter writer = WriterWithLogFile(disk, diagnostics);
        writer.Write(Record);
        Assert.True(SpinWait.SpinUntil(() => writer.LogFile!.Written == 1, TimeSpan.FromSeconds(10)), "the first line should be written");
        disk.HoldWrites();   // the file is open now, as during the drain
        for (int i = 0; i < 3; i++)
        {
            writer.Write(Record);
        }

        Assert.True(disk.WriteHeld.Wait(TimeSpan.FromSeconds(10)), "the file's write of the second line should have begun");
        writer.Close(TimeSpan.FromMilliseconds(100));   // gives up on the file's writer, held in that write
        disk.Release();

        // The held line and those after it are lost (the exit could not wait), but the disk did nothing wrong.
        await writer.LogFile!.Writing.WaitAsync(TimeSpan.FromSeconds(10));   // ends once its write returns
        Assert.True(diagnostics.Errors.Count == 0, $"reported on stderr: {string.Join(" | ", diagnostics.Errors)}");
    }

    [Fact]
    public void Close_leaves_every_line_already_taken_in_the_log_file_though_stdout_is_stalled()
    {
        using var directory = new TempDirectory();
        var diagnostics = new RecordingLogger();
        var writer = new RequestLineWriter(new NeverWrittenStream(), LineFormat.Text, directory.File("requests.log"), diagnostics);
        for (int i = 0; i < 100; i++)
        {
            writer.Write(Record);
        }

        Assert.True(SpinWait.SpinUntil(() => writer.LogFile!.Written == 100, TimeSpan.FromSeconds(10)), "the file's writer should take every line");
        var watch = Stopwatch.StartNew();
        writer.Close(TimeSpan.FromMilliseconds(500));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"Close(500 ms) took {watch.Elapsed}");
        Assert.Equal(100, File.ReadAllLines(Assert.Single(Directory.GetFiles(directory.Path))).Length);
        Assert.Empty(diagnostics.Errors);
    }

    private static RequestLineWriter WriterWithLogFile(ILogEventSink disk, Microsoft.Extensions.Logging.ILogger diagnostics) =>
        new(
            new MemoryStream(),
            LineFormat.Text,
            new LogFileLineOutput("requests.log", disk, diagnostics, RequestLineWriter.DefaultCapacity),
            diagnostics,
            RequestLineWriter.DefaultCapacity);

    /// <summary>
    /// A file on a disk that stopped answering (a hung NFS server): the write in progress never returns, and closing,
    /// which flushes under the same lock as Serilog's file sink does, waits for it.
    /// </summary>
    private sealed class StalledDiskSink : ILogEventSink, IDisposable
    {
        private readonly Lock _file = new();
        private readonly ManualResetEventSlim _recovered = new();

        public ManualResetEventSlim WriteStarted { get; } = new();

        public void Recover() => _recovered.Set();

        public void Emit(LogEvent logEvent)
        {
            lock (_file)
            {
                WriteStarted.Set();
                _recovered.Wait();
            }
        }

        public void Dispose()
        {
            lock (_file)
            {
            }
        }
    }

    /// <summary>Serilog's file sink, whose writes take until the test releases them once held (a slow disk).</summary>
    private sealed class HeldWritesSink(ILogEventSink file) : ILogEventSink, IDisposable
    {
        private readonly ManualResetEventSlim _released = new();
        private volatile bool _holding;

        public ManualResetEventSlim WriteHeld { get; } = new();

        public void HoldWrites() => _holding = true;

        public void Release() => _released.Set();

        public void Emit(LogEvent logEvent)
        {
            if (_holding)
            {
                WriteHeld.Set();
                _released.Wait();
            }

            file.Emit(logEvent);
        }

        public void Dispose() => (file as IDisposable)?.Dispose();
    }

    /// <summary>stdout whose reader has stopped reading: no write ever returns.</summary>
    private sealed class NeverWrittenStream : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            new(Task.Delay(Timeout.Infinite, cancellationToken));
    }
}
