using System.Diagnostics;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>The limits as options of the built program: each one reaches the proxy from the command line.</summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessLimitTests
{
    [Fact]
    public async Task Limits_given_on_the_command_line_are_the_ones_enforced()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await ProxyProcess.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, "--max-connections", "2", "--max-head-size", "1024", "--client-timeout", "3");

        // Two silent clients take both places (until the client timeout closes them); a third is refused at once.
        await using var idle1 = await RawConnection.OpenAsync(proxy.EndPoint);
        await using var idle2 = await RawConnection.OpenAsync(proxy.EndPoint);
        string overLimit = await RawHttp.SendAsync(proxy.EndPoint, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var watch = Stopwatch.StartNew();
        bool idleClosed = await idle1.IsClosedByProxyAsync(TimeSpan.FromSeconds(20));
        TimeSpan idleFor = watch.Elapsed;
        Assert.True(await idle2.IsClosedByProxyAsync(TimeSpan.FromSeconds(20)));
        string tooLarge = await RawHttp.SendAsync(proxy.EndPoint, $"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: {new string('p', 1100)}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 431 ", tooLarge, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 503 ", overLimit, StringComparison.Ordinal);
        Assert.True(idleClosed, "--client-timeout 3 should close a connection that sends nothing");
        Assert.True(idleFor < TimeSpan.FromSeconds(15), $"closed after {idleFor}");
    }

    [Theory]
    [InlineData("--max-connections", "0")]
    [InlineData("--max-head-size", "100")]
    [InlineData("--shadow-buffer", "lots")]
    [InlineData("--client-timeout", "-1")]
    [InlineData("--keep-alive-timeout", "0")]
    [InlineData("--connect-timeout", "soon")]
    [InlineData("--drain-timeout", "1e9")]
    public async Task A_bad_limit_is_one_line_on_stderr_and_exit_2_before_anything_listens(string option, string value)
    {
        (int exitCode, string stdout, string stderr) =
            await ProxyProcess.RunAsync("--shadow", "127.0.0.1:9", "--listen", "127.0.0.1:0", option, value);

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(option, line, StringComparison.Ordinal);
    }
}
