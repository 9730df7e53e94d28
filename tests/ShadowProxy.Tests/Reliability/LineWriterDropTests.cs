using Microsoft.Extensions.Logging;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Reliability;

/// <summary>The request-line writer never blocks the proxy: with stdout stalled it drops past its bound, counts, and says so on stderr.</summary>
public sealed class LineWriterDropTests
{
    [Fact]
    public async Task A_stalled_stdout_drops_lines_past_the_queue_bound_counts_them_and_reports_them()
    {
        var stdout = new StalledStream();
        var diagnostics = new RecordingLogger();
        var writer = new RequestLineWriter(stdout, LineFormat.Text, logFile: null, diagnostics, capacity: 2);
        var record = new RequestRecord(
            DateTimeOffset.UnixEpoch, "GET", "/x", new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None), default);

        for (int i = 0; i < 10; i++)
        {
            writer.Write(record);   // must return at once even though stdout is stalled
        }

        stdout.Release();
        await writer.DisposeAsync();

        Assert.True(writer.Dropped > 0, "a queue of 2 behind a stalled stdout must drop");
        Assert.Equal(10, writer.Written + writer.Dropped);
        Assert.Equal(writer.Written, stdout.Lines);
        string report = Assert.Single(diagnostics.Warnings);
        Assert.Equal($"{writer.Dropped} request lines dropped: the line queue was full ({writer.Dropped} in all)", report);
    }

    /// <summary>stdout whose reader has stopped reading: writes wait until released.</summary>
    private sealed class StalledStream : MemoryStream
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Lines { get; private set; }

        public void Release() => _released.SetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await _released.Task.WaitAsync(cancellationToken);
            Lines += buffer.Span.Count((byte)'\n');
            await base.WriteAsync(buffer, cancellationToken);
        }
    }

    private sealed class RecordingLogger : ILogger
    {
        private readonly List<string> _warnings = [];

        public IReadOnlyList<string> Warnings
        {
            get
            {
                lock (_warnings)
                {
                    return [.. _warnings];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel == LogLevel.Warning)
            {
                lock (_warnings)
                {
                    _warnings.Add(formatter(state, exception));
                }
            }
        }
    }
}
