using System.Diagnostics;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// How a tunnel (101 Upgrade, CONNECT's 2xx) ends when nobody closes it: after the client timeout without traffic in
/// either direction, or when the drain runs out.
/// </summary>
public sealed class TunnelTests
{
    private const string Upgrade = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    private const string Switching = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    private const string Connect = "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n";
    private const string Established = "HTTP/1.1 200 Connection Established\r\n\r\n";
    private const int Pings = 7;
    private static readonly TimeSpan IdleLimit = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan PingInterval = TimeSpan.FromMilliseconds(300);   // Pings of them outlast IdleLimit

    [Theory]
    [InlineData(Upgrade, Switching, "/ws", 101)]
    [InlineData(Connect, Established, "db.internal:5432", 200)]
    public async Task A_tunnel_stays_open_while_either_side_sends_and_closes_after_the_client_timeout_of_silence(
        string request, string answer, string url, int status)
    {
        var productionClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            await connection.SendAsync(answer);
            // First the client talks, then production, each for longer than the idle limit; then both are silent.
            if (await connection.ReadExactlyAsync(Pings) is null)
            {
                return;   // cut while the client talked: the client sees it
            }

            for (int i = 0; i < Pings; i++)
            {
                await Task.Delay(PingInterval, connection.Stopping);
                await connection.SendAsync("p");
            }

            await connection.WaitForCloseAsync();
            productionClosed.SetResult();
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, options => options with { ClientTimeout = IdleLimit });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync(request);
        string head = await client.ReadThroughAsync("\r\n\r\n");
        for (int i = 0; i < Pings; i++)
        {
            await Task.Delay(PingInterval);
            await client.SendAsync("c");
        }

        string fromProduction = await client.ReadThroughAsync(new string('p', Pings), TimeSpan.FromSeconds(20));
        var silence = Stopwatch.StartNew();
        string? afterSilence = await client.ReadUntilEndedAsync(TimeSpan.FromSeconds(10));
        TimeSpan closedAfter = silence.Elapsed;
        Assert.True(afterSilence is not null, "an idle tunnel should be closed after the client timeout, but it stayed open");
        await productionClosed.Task.WaitAsync(TimeSpan.FromSeconds(10));   // the proxy let go of production too
        await proxy.WaitForLinesAsync(1);
        await proxy.StopAsync();

        Assert.Equal(answer, head);
        Assert.Equal(new string('p', Pings), fromProduction);
        Assert.Equal("", afterSilence);
        Assert.True(closedAfter >= IdleLimit * 0.8, $"the tunnel was closed {closedAfter} after its last traffic, before the idle limit");
        Assert.Equal(BackendError.None, Assert.Single(proxy.Records).Production.Error);
        Assert.Matches($@"^{url.Replace(".", "\\.", StringComparison.Ordinal)} \d+\.\d{{3}} - - {status} -$", Assert.Single(proxy.RequestLines));
    }

    [Fact]
    public async Task A_busy_tunnel_is_cut_when_the_drain_times_out()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            await connection.SendAsync(Switching);
            await connection.WaitForCloseAsync();   // reads away whatever the client sends
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { DrainTimeout = TimeSpan.FromSeconds(1) });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);
        await client.SendAsync(Upgrade);
        Assert.Equal(Switching, await client.ReadThroughAsync("\r\n\r\n"));
        using var stopTalking = new CancellationTokenSource();
        Task talking = TalkUntilCutAsync(client, stopTalking.Token);

        var stopping = Stopwatch.StartNew();
        Task stopped = proxy.StopAsync();
        bool drained = await Task.WhenAny(stopped, Task.Delay(TimeSpan.FromSeconds(10))) == stopped;
        TimeSpan stoppedAfter = stopping.Elapsed;
        await stopTalking.CancelAsync();
        await talking;

        Assert.True(drained, "the drain timeout should cut a tunnel that never goes quiet, but the stop waited for it");
        Assert.True(stoppedAfter >= TimeSpan.FromSeconds(0.8), $"the tunnel was cut after {stoppedAfter}, before the drain timeout");
        Assert.Matches(@"^/ws \d+\.\d{3} - - 101 -$", Assert.Single(proxy.RequestLines));
    }

    /// <summary>A byte every 100 ms, far more often than any idle limit, until the proxy cuts the connection.</summary>
    private static async Task TalkUntilCutAsync(RawConnection client, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await client.SendAsync("x");
                await Task.Delay(100, stop);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // Cut by the proxy, or the test is done.
        }
    }
}
