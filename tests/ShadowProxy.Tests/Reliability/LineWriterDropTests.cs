using System.Globalization;
using Microsoft.Extensions.Logging;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// The request-line writer never blocks the proxy: with stdout stalled, stdout drops past its own bound, counts, and
/// says so on stderr, while --log-file goes on getting every line.
/// </summary>
public sealed class LineWriterDropTests
{
    [Fact]
    public async Task A_stalled_stdout_drops_lines_past_its_bound_counts_them_and_reports_them_as_stdouts_while_the_log_file_gets_every_line()
    {
        using var directory = new TempDirectory();
        var stdout = new StalledStream();
        var diagnostics = new RecordingLogger();
        var writer = new RequestLineWriter(stdout, LineFormat.Text, directory.File("requests.log"), diagnostics, capacity: 2);
        var record = new RequestRecord(
            DateTimeOffset.UnixEpoch, "GET", "/x", new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None), default);

        writer.Write(record);
        Assert.True(stdout.WriteStarted.Wait(TimeSpan.FromSeconds(10)), "stdout's write of the first line should have begun");
        // The file's bound is 2 lines too: with its first line still queued, the next batch would not fit there either.
        Assert.True(SpinWait.SpinUntil(() => writer.LogFile!.Written == 1, TimeSpan.FromSeconds(10)), "the file should have taken the first line");
        for (int i = 0; i < 10; i++)
        {
            writer.Write(record);   // must return at once even though stdout is stalled
        }

        // The file is not held back by stdout: it takes all 11 while stdout still waits, and stdout's drops are said meanwhile.
        Assert.True(
            SpinWait.SpinUntil(() => writer.LogFile!.Written == 11 && writer.Stdout.Dropped >= 9 && diagnostics.Warnings.Count > 0, TimeSpan.FromSeconds(10)),
            $"file {writer.LogFile!.Written} written, stdout {writer.Stdout.Dropped} dropped, {diagnostics.Warnings.Count} warnings");
        stdout.Release();
        await writer.DisposeAsync();

        // The first line waits in stdout's write, so at most one more fits in its bound of 2.
        Assert.InRange(writer.Stdout.Dropped, 9, 10);
        Assert.Equal(11, writer.Stdout.Written + writer.Stdout.Dropped);
        Assert.Equal(writer.Stdout.Written, stdout.Lines);
        Assert.Equal(0, writer.LogFile.Dropped);
        Assert.Equal(11, File.ReadAllLines(Assert.Single(Directory.GetFiles(directory.Path))).Length);
        Assert.All(diagnostics.Warnings, report => Assert.Matches(@"^\d+ request lines dropped for stdout: its queue was full \(\d+ in all\)$", report));
        Assert.Equal(writer.Stdout.Dropped, diagnostics.Warnings.Sum(report => long.Parse(report.Split(' ')[0], CultureInfo.InvariantCulture)));
        Assert.EndsWith($"({writer.Stdout.Dropped} in all)", diagnostics.Warnings[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_closed_stdout_is_reported_once_and_the_log_file_still_gets_every_line()
    {
        using var directory = new TempDirectory();
        var diagnostics = new RecordingLogger();
        var writer = new RequestLineWriter(new BrokenPipeStream(), LineFormat.Text, directory.File("requests.log"), diagnostics);
        var record = new RequestRecord(
            DateTimeOffset.UnixEpoch, "GET", "/x", new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None), default);

        writer.Write(record);
        Assert.True(SpinWait.SpinUntil(() => diagnostics.Errors.Count == 1, TimeSpan.FromSeconds(10)), "the failed stdout is reported");
        for (int i = 0; i < 4; i++)
        {
            writer.Write(record);   // after stdout failed: these must still reach the file
        }

        await writer.DisposeAsync();

        string[] lines = File.ReadAllLines(Assert.Single(Directory.GetFiles(directory.Path)));
        Assert.Equal(5, lines.Length);
        Assert.All(lines, line => Assert.Equal("/x 0.005 - - 200 -", line));
        Assert.Single(diagnostics.Errors);
    }

    [Fact]
    public async Task A_stdout_on_a_full_disk_loses_the_lines_it_could_not_take_and_gets_the_next_ones_once_it_can()
    {
        // `>> requests.log` on a /var/log that filled for a moment: stdout gave up for good at the first ENOSPC.
        var stdout = new FullDiskStream();
        var diagnostics = new RecordingLogger();
        var writer = new RequestLineWriter(stdout, LineFormat.Text, logFile: null, diagnostics);
        var record = new RequestRecord(
            DateTimeOffset.UnixEpoch, "GET", "/x", new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None), default);

        writer.Write(record);
        Assert.True(SpinWait.SpinUntil(() => writer.Stdout.Written == 1, TimeSpan.FromSeconds(10)), "the first batch was tried");
        writer.Write(record);
        Assert.True(SpinWait.SpinUntil(() => writer.Stdout.Written == 2, TimeSpan.FromSeconds(10)), "the second batch was tried");
        stdout.Free();
        writer.Write(record);
        await writer.DisposeAsync();

        Assert.Equal(1, stdout.Lines);   // the two failed writes' lines are lost; the one after the space came back is not
        Assert.Equal(["Writing request lines to stdout failed: No space left on device; their lines are lost, and the next ones are tried again"], diagnostics.Errors);
        Assert.Equal(["Writing request lines to stdout works again (1 more failed writes since the last report)"], diagnostics.Warnings);
    }

    /// <summary>stdout appending to a file on a full disk: writes fail with ENOSPC, as DescriptorStream says it, until freed.</summary>
    private sealed class FullDiskStream : MemoryStream
    {
        private volatile bool _freed;

        public int Lines { get; private set; }

        public void Free() => _freed = true;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_freed)
            {
                return ValueTask.FromException(new IOException("No space left on device", 28));
            }

            Lines += buffer.Span.Count((byte)'\n');
            return base.WriteAsync(buffer, cancellationToken);
        }
    }

    /// <summary>stdout whose reader has gone away: every write fails, as with EPIPE.</summary>
    private sealed class BrokenPipeStream : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromException(new IOException("Broken pipe"));
    }

    /// <summary>stdout whose reader has stopped reading: writes wait until released.</summary>
    private sealed class StalledStream : MemoryStream
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Lines { get; private set; }

        public ManualResetEventSlim WriteStarted { get; } = new();

        public void Release() => _released.SetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            WriteStarted.Set();
            await _released.Task.WaitAsync(cancellationToken);
            Lines += buffer.Span.Count((byte)'\n');
            await base.WriteAsync(buffer, cancellationToken);
        }
    }
}
