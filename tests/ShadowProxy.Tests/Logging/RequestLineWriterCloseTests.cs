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

    private static RequestLineWriter WriterWithLogFile(ILogEventSink disk, Microsoft.Extensions.Logging.ILogger diagnostics) =>
        new(
            new MemoryStream(),
            LineFormat.Text,
            new LogFileLineOutput("requests.log", disk, diagnostics, RequestLineWriter.DefaultCapacity),
            diagnostics,
            RequestLineWriter.DefaultCapacity);

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

    private sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger
    {
        private readonly List<string> _errors = [];

        public IReadOnlyList<string> Errors
        {
            get
            {
                lock (_errors)
                {
                    return [.. _errors];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error)
            {
                lock (_errors)
                {
                    _errors.Add(formatter(state, exception));
                }
            }
        }
    }
}
