using System.Diagnostics;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>The built program when the reader of its stderr stops reading: proxying goes on.</summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessStallTests
{
    [Fact]
    public async Task A_stderr_nobody_reads_stops_neither_the_proxy_nor_its_request_lines_nor_its_exit()
    {
        // Production refuses: every request is a 502 and a warning on stderr (~150 bytes), so 2,000 requests write
        // far more than the pipe holds. The proxy's work runs on one event thread; a diagnostic written there and
        // waiting on the full pipe would stop every connection.
        int refusing = ProxyProcess.FreePort();
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await ProxyProcess.StartWithStderrUnreadAsync(new(System.Net.IPAddress.Loopback, refusing), shadow.EndPoint);

        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 2_000; i++)
        {
            string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET /stalled/{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .WaitAsync(TimeSpan.FromSeconds(10));
            Assert.StartsWith("HTTP/1.1 502 ", response, StringComparison.Ordinal);
        }

        Assert.False(proxy.HasExited);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(120), $"2,000 answers took {watch.Elapsed}");
        // The request lines are not held up either.
        var lines = Stopwatch.StartNew();
        while (proxy.StdoutLineCount < 2_000 && lines.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50);
        }

        Assert.Equal(2_000, proxy.StdoutLineCount);

        // And it still stops when told: the diagnostics still queued are given a bounded time, not forever.
        await proxy.SignalAsync("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }
}
