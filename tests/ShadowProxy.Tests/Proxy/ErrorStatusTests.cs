using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

public sealed class ErrorStatusTests
{
    private const string Ok = FaultyBackends.ProductionOk;
    private const string GoodRequest = "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

    [Fact]
    public async Task Production_unreachable_gives_502_and_the_proxy_keeps_serving()
    {
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(TestProxy.ClosedPort(), shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint, "GET /down HTTP/1.1\r\nHost: h\r\n\r\n");
        await proxy.StopAsync();

        Assert.StartsWith("HTTP/1.1 502 Bad Gateway\r\n", response, StringComparison.Ordinal);
        RequestRecord record = Assert.Single(proxy.Records);
        Assert.Equal(BackendError.Refused, record.Production.Error);
        Assert.Equal(200, record.Shadow.StatusCode);   // the shadow still got its copy
        Assert.Matches(@"^/down - \d+\.\d{3} - - 200$", Assert.Single(proxy.RequestLines));
    }

    [Fact]
    public async Task Production_timeout_gives_504()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WaitForCloseAsync();   // never answers
        });
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = TimeSpan.FromMilliseconds(300) });

        string response = await RawHttp.SendAsync(proxy.EndPoint, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        string after = await RawHttp.SendAsync(proxy.EndPoint, "GET /slow2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await proxy.StopAsync();

        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", response, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", after, StringComparison.Ordinal);
        Assert.Equal([BackendError.Timeout, BackendError.Timeout], proxy.Records.Select(record => record.Production.Error));
    }

    [Fact]
    public async Task A_HEAD_gets_the_502_or_504_head_without_its_body()
    {
        // RFC 9110 §9.3.2: no content in an answer to HEAD. A client frames it by the head alone and would read the body
        // as the start of the next answer on its connection.
        await using var silent = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WaitForCloseAsync();
        });
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var unreachable = await TestProxy.StartAsync(TestProxy.ClosedPort(), shadow.EndPoint);
        await using var timingOut = await TestProxy.StartAsync(silent.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = TimeSpan.FromMilliseconds(300) });

        string badGateway = await RawHttp.SendAsync(unreachable.EndPoint, "HEAD /down HTTP/1.1\r\nHost: h\r\n\r\n");
        string gatewayTimeout = await RawHttp.SendAsync(timingOut.EndPoint, "HEAD /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        string get = await RawHttp.SendAsync(unreachable.EndPoint, "GET /down HTTP/1.1\r\nHost: h\r\n\r\n");

        Assert.Equal(
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\n", badGateway);
        Assert.Equal(
            "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\n", gatewayTimeout);
        Assert.EndsWith("\r\n\r\n502 Bad Gateway\n", get, StringComparison.Ordinal);   // a GET still gets the body
    }

    [Fact]
    public async Task A_client_that_stops_reading_is_recorded_as_aborted_not_as_a_production_timeout()
    {
        // Production answers at once with more than the sockets can hold; the client never reads. Production's
        // timer runs down while the proxy waits to write to the client: that is the client's doing.
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            try
            {
                await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 33554432\r\n\r\n");
                await connection.SendAsync(new byte[32 * 1024 * 1024]);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
            {
                // The proxy gave up on the client and closed this connection.
            }
        });
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = TimeSpan.FromSeconds(1) });
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
        {
            ReceiveBufferSize = 4096,
        };
        await client.ConnectAsync(proxy.EndPoint);
        await client.SendAsync("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray());

        await proxy.WaitForLinesAsync(1, TimeSpan.FromSeconds(20));

        RequestRecord record = Assert.Single(proxy.Records);
        Assert.Equal(BackendError.Aborted, record.Production.Error);
        Assert.Equal(200, record.Production.StatusCode);
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n")]
    [InlineData("GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")]
    [InlineData("GET /x HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n  b\r\n\r\n")]
    [InlineData("GET /x HTTP/1.1\nHost: h\r\n\r\n")]
    [InlineData("GET /x HTTP/1.1\r\nHost : h\r\n\r\n")]
    [InlineData("GET /x HTTP/2.0\r\nHost: h\r\n\r\n")]
    [InlineData("GET /x HTTP/1.1\r\n\r\n")]
    [InlineData("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")]
    public async Task Malformed_request_gets_400_is_never_forwarded_and_the_proxy_keeps_serving(string request)
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint, request);
        string after = await RawHttp.SendAsync(proxy.EndPoint, GoodRequest);
        await proxy.StopAsync();

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", response, StringComparison.Ordinal);
        Assert.Equal(Ok, after);
        bool headWasValid = request.Contains("zz", StringComparison.Ordinal);   // only the chunk size is bad
        Assert.Equal(headWasValid ? 2 : 1, production.ConnectionCount);
        Assert.DoesNotContain(production.Requests, received => received.Contains("/x", StringComparison.Ordinal) && !headWasValid);
        Assert.Equal("GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", production.Requests[^1]);
    }

    [Fact]
    public async Task Head_over_the_limit_gets_431_and_is_not_forwarded()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { MaxRequestHeadBytes = 4096 });

        string huge = $"GET /big HTTP/1.1\r\nHost: h\r\nCookie: {new string('c', 5000)}\r\n\r\n";
        string response = await RawHttp.SendAsync(proxy.EndPoint, huge);
        string after = await RawHttp.SendAsync(proxy.EndPoint, GoodRequest);
        await proxy.StopAsync();

        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", response, StringComparison.Ordinal);
        Assert.Equal(Ok, after);
        Assert.Single(production.Requests);
        Assert.Single(shadow.Requests);
    }

    [Fact]
    public async Task Invalid_production_response_gives_502()
    {
        await using var production = LoopbackBackend.Start("SPDY/3 200 whatever\r\n\r\n");
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint, GoodRequest);
        await proxy.StopAsync();

        Assert.StartsWith("HTTP/1.1 502 Bad Gateway\r\n", response, StringComparison.Ordinal);
        Assert.Equal(BackendError.InvalidResponse, Assert.Single(proxy.Records).Production.Error);
    }
}
