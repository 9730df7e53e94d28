using System.IO.Pipes;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Parsing;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Logging;

/// <summary>
/// `ShadowProxy ... 2>&amp;1 | collector`: stdout and stderr are one pipe. A write of at most PIPE_BUF bytes to a pipe
/// is atomic; a larger one is not, and a write from the other stream meanwhile lands inside it, in the middle of a line.
/// </summary>
public sealed partial class SharedPipeTests
{
    private const string Line = "/shared-pipe?with=a-query-long-enough-to-fill-batches 0.005 - - 200 -";
    private const int FramesPerTrace = 120;
    private const int LongLineBytes = 6_000;

    private static readonly RequestRecord Record = new(
        DateTimeOffset.UnixEpoch,
        "GET",
        "/shared-pipe?with=a-query-long-enough-to-fill-batches",
        new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None),
        default);

    [Fact]
    public async Task With_stderr_on_the_same_pipe_no_request_line_is_split_by_a_diagnostic()
    {
        (string[] lines, long written) = await ShareOnePipeAsync(8_000, (descriptor, stopping) =>
        {
            // One short diagnostic per write, as StandardErrorSink writes one that fits in PIPE_BUF.
            var stderr = new DescriptorStream(descriptor);
            for (int i = 0; !stopping.IsCancellationRequested; i++)
            {
                stderr.Write(Encoding.ASCII.GetBytes($"[17:00:00 WRN] diagnostic {i}\n"));
                Thread.Sleep(1);
            }
        });

        string[] broken = [.. lines.Where(line => line != Line && !line.StartsWith("[17:00:00 WRN] diagnostic ", StringComparison.Ordinal))];
        Assert.True(broken.Length == 0, $"{broken.Length} lines mixed up, e.g. {broken.FirstOrDefault()}");
        Assert.Equal(written, lines.Count(line => line == Line));
    }

    [Fact]
    public async Task With_stderr_on_the_same_pipe_no_request_line_lands_inside_a_long_diagnostic()
    {
        // A warning with a stack trace is many lines and more than PIPE_BUF; one of its lines alone can be longer.
        int emitted = 0;
        (string[] lines, long written) = await ShareOnePipeAsync(4_000, (descriptor, stopping) =>
        {
            using var sink = new StandardErrorSink(
                new MessageTemplateTextFormatter("[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}"),
                new DescriptorStream(descriptor));
            var exception = new LongTraceException();
            for (; !stopping.IsCancellationRequested; emitted++)
            {
                sink.Emit(new LogEvent(
                    new DateTimeOffset(2026, 11, 26, 17, 0, 0, TimeSpan.Zero),
                    LogEventLevel.Warning,
                    exception,
                    new MessageTemplate([new TextToken($"diagnostic {emitted}")]),
                    []));
                Thread.Sleep(25);
            }
        });

        string[] broken = [.. lines.Where(line => line != Line && !DiagnosticLine().IsMatch(line))];
        Assert.True(broken.Length == 0, $"{broken.Length} lines mixed up, e.g. ...{broken.FirstOrDefault()?[^Math.Min(150, broken[0].Length)..]}");
        Assert.Equal(written, lines.Count(line => line == Line));
        // Every diagnostic arrived whole: the long line only wrapped, no byte of it lost.
        Assert.Equal(emitted * FramesPerTrace, lines.Count(line => line.StartsWith("   at ", StringComparison.Ordinal)));
        Assert.Equal((long)emitted * LongLineBytes, lines.Where(line => line[0] == 'x').Sum(line => (long)line.Length));
    }

    /// <summary>
    /// One pipe with a slow reader, as `2&gt;&amp;1 | collector` gives: <paramref name="requests"/> request lines go in
    /// through a <see cref="RequestLineWriter"/> while <paramref name="diagnose"/> writes to the same descriptor from
    /// another thread until they are out. Returns the lines that came out and how many request lines were written.
    /// </summary>
    private static async Task<(string[] Lines, long Written)> ShareOnePipeAsync(int requests, Action<int, CancellationToken> diagnose)
    {
        var writeEnd = new AnonymousPipeServerStream(PipeDirection.Out);
        using var reading = new AnonymousPipeClientStream(PipeDirection.In, writeEnd.ClientSafePipeHandle);
        int descriptor = (int)writeEnd.SafePipeHandle.DangerousGetHandle();
        var received = new StringBuilder();
        Task reader = ReadSlowlyAsync(reading, received);

        var writer = new RequestLineWriter(new DescriptorStream(descriptor), LineFormat.Text, logFile: null, NullLogger.Instance);
        using var stopping = new CancellationTokenSource();
        Task diagnostics = Task.Run(() => diagnose(descriptor, stopping.Token));
        for (int i = 0; i < requests; i++)
        {
            writer.Write(Record);
        }

        await writer.DisposeAsync();
        await stopping.CancelAsync();
        await diagnostics;
        writeEnd.Dispose();
        await reader.WaitAsync(TimeSpan.FromSeconds(60));
        return (received.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), writer.Stdout.Written);
    }

    private static Task ReadSlowlyAsync(AnonymousPipeClientStream reading, StringBuilder received) => Task.Run(async () =>
    {
        var chunk = new byte[1024];
        int read;
        while ((read = await reading.ReadAsync(chunk)) > 0)
        {
            received.Append(Encoding.ASCII.GetString(chunk, 0, read));
            await Task.Delay(1);   // a collector slower than the proxy: the pipe fills, big writes go out in parts
        }
    });

    [GeneratedRegex(@"^(\[17:00:00 WRN\] diagnostic \d+|LongTraceException: a warning's exception|   at Frame\.Method\d+\(\) in /src/Frame\.cs:line \d+|x+)$")]
    private static partial Regex DiagnosticLine();

    /// <summary>An exception that renders as a stack trace of <see cref="FramesPerTrace"/> frames and one line longer than PIPE_BUF.</summary>
    private sealed class LongTraceException() : Exception("a warning's exception")
    {
        private readonly string _text = string.Concat(
            "LongTraceException: a warning's exception\n",
            new string('x', LongLineBytes) + "\n",
            string.Concat(Enumerable.Range(0, FramesPerTrace).Select(i => $"   at Frame.Method{i}() in /src/Frame.cs:line {i}\n")));

        public override string ToString() => _text.TrimEnd('\n');
    }
}
