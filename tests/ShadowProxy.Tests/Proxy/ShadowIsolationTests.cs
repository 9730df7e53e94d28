using System.Diagnostics;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

/// <summary>The shadow never delays or breaks production: each misbehaving shadow against a healthy production.</summary>
public sealed class ShadowIsolationTests
{
    private const string Ok = FaultyBackends.ProductionOk;
    // Long enough that no loaded CI machine takes that long to proxy the request itself.
    private static readonly TimeSpan ShadowStall = TimeSpan.FromSeconds(10);

    public static TheoryData<string> Misbehaviours => ["down", "slow-to-answer", "reset", "never-answers", "not-reading-body", "slow-to-accept"];

    [Theory]
    [MemberData(nameof(Misbehaviours))]
    public async Task Client_gets_production_response_at_production_speed(string misbehaviour)
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = StartShadow(misbehaviour);
        System.Net.IPEndPoint shadowEndpoint = misbehaviour == "down" ? TestProxy.ClosedPort() : shadow.EndPoint;
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadowEndpoint,
            options => options with
            {
                ShadowTimeout = ShadowStall + TimeSpan.FromSeconds(2),
                MaxShadowBufferBytes = 256 * 1024,
                DrainTimeout = TimeSpan.FromSeconds(1),   // stopping then cuts the stalled shadow: its line is still written
            });
        // A body larger than the shadow buffer and the socket buffers between the proxy and a shadow that does not read.
        string body = new('b', 8 * 1024 * 1024);
        string request = $"POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";

        var clock = Stopwatch.StartNew();
        string response = await RawHttp.SendAsync(proxy.EndPoint, request);
        TimeSpan clientTime = clock.Elapsed;
        await proxy.StopAsync();   // drains: the line is written, with the shadow's failure

        Assert.Equal(Ok, response);
        Assert.True(clientTime < ShadowStall, $"the client waited {clientTime} for a shadow that stalls {ShadowStall}");
        Assert.Equal(body.Length, production.Requests.Single().Length - production.Requests.Single().IndexOf("\r\n\r\n", StringComparison.Ordinal) - 4);
        RequestRecord record = Assert.Single(proxy.Records);
        Assert.Equal(200, record.Production.StatusCode);
        Assert.NotNull(record.Production.Elapsed);
        Assert.NotEqual(BackendError.None, record.Shadow.Error);
        Assert.Null(record.Shadow.Elapsed);
    }

    [Fact]
    public async Task A_shadow_that_stops_reading_is_abandoned_as_overflow()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = StartShadow("not-reading-body");
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { MaxShadowBufferBytes = 64 * 1024 });
        string body = new('b', 16 * 1024 * 1024);

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"PUT /blob HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");
        await proxy.StopAsync();

        Assert.Equal(Ok, response);
        Assert.Equal(BackendError.Overflow, Assert.Single(proxy.Records).Shadow.Error);
        Assert.Matches(@"^/blob \d+\.\d{3} - - 200 -$", Assert.Single(proxy.RequestLines));
    }

    [Fact]
    public async Task Shadow_timeout_is_recorded_and_does_not_hold_the_client()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = StartShadow("never-answers");
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ShadowTimeout = TimeSpan.FromMilliseconds(500) });

        string response = await RawHttp.SendAsync(proxy.EndPoint, "GET /t HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await proxy.StopAsync();

        Assert.Equal(Ok, response);
        Assert.Equal(BackendError.Timeout, Assert.Single(proxy.Records).Shadow.Error);
    }

    [Fact]
    public async Task A_shadow_that_trickles_its_answer_is_cut_at_the_shadow_timeout_without_holding_the_client()
    {
        // A byte every 100 ms, never silent long enough for a timeout between reads: only a bound on the whole
        // exchange ends it. The body is far longer than the test: left alone, it would trickle for minutes.
        var shadowConnectionClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            try
            {
                await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
                while (true)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), connection.Stopping);
                    await connection.SendAsync("x");
                }
            }
            catch (IOException)
            {
                shadowConnectionClosed.TrySetResult();   // the proxy gave up on it and closed
            }
        });
        TimeSpan shadowTimeout = TimeSpan.FromSeconds(1);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ShadowTimeout = shadowTimeout });
        var clock = Stopwatch.StartNew();

        string response = await RawHttp.SendAsync(proxy.EndPoint, "GET /trickle HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        TimeSpan clientTime = clock.Elapsed;
        bool shadowDoneBeforeClient = proxy.Records.Count > 0;   // the line is written once the shadow has ended
        await proxy.WaitForLinesAsync(1, TimeSpan.FromSeconds(10));
        TimeSpan lineTime = clock.Elapsed;
        await shadowConnectionClosed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(Ok, response);
        Assert.False(shadowDoneBeforeClient, $"the client ({clientTime}) must have its answer while the shadow still trickles (line after {lineTime})");
        Assert.True(lineTime >= shadowTimeout * 0.9, $"the line waits for the shadow timeout, got it after {lineTime}");
        RequestRecord record = Assert.Single(proxy.Records);
        Assert.Equal(BackendError.Timeout, record.Shadow.Error);
        Assert.True(record.Shadow.Bytes > 0, "the shadow had been answering: this is not the silent-shadow case");
        Assert.Matches(@"^/trickle \d+\.\d{3} - - 200 ", Assert.Single(proxy.RequestLines));   // no shadow time for a timed-out answer
    }

    [Fact]
    public async Task Memory_held_for_all_shadows_together_is_bounded_and_released()
    {
        // Shadows that never read: once the socket buffers are full, each copy waits in the proxy's queue. Each
        // request alone is within its own bound; only the total bound can stop them.
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = StartShadow("not-reading-body");
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, options => options with
        {
            MaxShadowBufferBytes = 64 * 1024 * 1024,
            MaxShadowBufferTotalBytes = 1024 * 1024,
            DrainTimeout = TimeSpan.FromSeconds(1),
        });
        string body = new('b', 24 * 1024 * 1024);   // far beyond what socket buffers take from a peer that does not read
        string request = $"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";

        string[] responses = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => RawHttp.SendAsync(proxy.EndPoint, request)));
        long heldWhileStuck = proxy.Server.ShadowBufferedBytes;
        await proxy.StopAsync();

        Assert.All(responses, response => Assert.Equal(Ok, response));
        Assert.InRange(heldWhileStuck, 0, 1024 * 1024);
        Assert.Equal(3, proxy.Records.Count);
        Assert.All(proxy.Records, record => Assert.Equal(BackendError.Overflow, record.Shadow.Error));
        Assert.Equal(0, proxy.Server.ShadowBufferedBytes);
    }

    private static LoopbackBackend StartShadow(string misbehaviour) => LoopbackBackend.Start(misbehaviour switch
    {
        "slow-to-answer" => async connection =>
        {
            await connection.ReadRequestAsync();
            await Task.Delay(ShadowStall, connection.Stopping);
            await connection.SendAsync(Ok);
        },
        "reset" => async connection =>
        {
            await connection.ReadHeadAsync();
            connection.Reset();
        },
        "not-reading-body" => async connection =>
        {
            await connection.ReadHeadAsync();
            await Task.Delay(ShadowStall, connection.Stopping);
        },
        "slow-to-accept" => async connection =>
        {
            await Task.Delay(ShadowStall, connection.Stopping);
            await connection.ReadRequestAsync();
            await connection.SendAsync(Ok);
        },
        _ => async connection =>
        {
            await connection.ReadHeadAsync();
            await Task.Delay(ShadowStall, connection.Stopping);
        },
    });
}
