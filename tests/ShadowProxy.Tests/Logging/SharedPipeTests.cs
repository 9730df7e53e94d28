using System.IO.Pipes;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Logging;

/// <summary>
/// `ShadowProxy ... 2>&amp;1 | collector`: stdout and stderr are one pipe. A write of at most PIPE_BUF bytes to a pipe
/// is atomic; a larger one is not, and a diagnostic written meanwhile lands inside it, in the middle of a line.
/// </summary>
public sealed class SharedPipeTests
{
    private const string Line = "/shared-pipe?with=a-query-long-enough-to-fill-batches 0.005 - - 200 -";

    [Fact]
    public async Task With_stderr_on_the_same_pipe_no_request_line_is_split_by_a_diagnostic()
    {
        var writeEnd = new AnonymousPipeServerStream(PipeDirection.Out);
        using var reading = new AnonymousPipeClientStream(PipeDirection.In, writeEnd.ClientSafePipeHandle);
        int descriptor = (int)writeEnd.SafePipeHandle.DangerousGetHandle();
        var received = new StringBuilder();
        Task reader = Task.Run(async () =>
        {
            var chunk = new byte[1024];
            int read;
            while ((read = await reading.ReadAsync(chunk)) > 0)
            {
                received.Append(Encoding.ASCII.GetString(chunk, 0, read));
                await Task.Delay(1);   // a collector slower than the proxy: the pipe fills, big writes go out in parts
            }
        });

        var writer = new RequestLineWriter(new DescriptorStream(descriptor), LineFormat.Text, logFile: null, NullLogger.Instance);
        using var stopping = new CancellationTokenSource();
        Task diagnostics = Task.Run(() =>
        {
            // What StandardErrorSink does on descriptor 2: one write per diagnostic.
            var stderr = new DescriptorStream(descriptor);
            for (int i = 0; !stopping.IsCancellationRequested; i++)
            {
                stderr.Write(Encoding.ASCII.GetBytes($"[17:00:00 WRN] diagnostic {i}\n"));
                Thread.Sleep(1);
            }
        });
        var record = new RequestRecord(
            DateTimeOffset.UnixEpoch,
            "GET",
            "/shared-pipe?with=a-query-long-enough-to-fill-batches",
            new BackendResult(200, TimeSpan.FromMilliseconds(5), 10, BackendError.None),
            default);
        for (int i = 0; i < 8_000; i++)
        {
            writer.Write(record);
        }

        await writer.DisposeAsync();
        await stopping.CancelAsync();
        await diagnostics;
        writeEnd.Dispose();
        await reader.WaitAsync(TimeSpan.FromSeconds(60));

        string[] lines = received.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] broken = [.. lines.Where(line => line != Line && !line.StartsWith("[17:00:00 WRN] diagnostic ", StringComparison.Ordinal))];
        Assert.True(broken.Length == 0, $"{broken.Length} lines mixed up, e.g. {broken.FirstOrDefault()}");
        Assert.Equal(writer.Written, lines.Count(line => line == Line));
    }
}
