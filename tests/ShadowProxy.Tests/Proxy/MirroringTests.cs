using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

public sealed class MirroringTests
{
    private const string ProductionOk = FaultyBackends.ProductionOk;
    private const string ShadowFails = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    [Fact]
    public async Task Client_gets_production_response_while_both_backends_get_connection_close()
    {
        await using var production = LoopbackBackend.Start(ProductionOk);
        await using var shadow = LoopbackBackend.Start(ShadowFails);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint,
            "GET /products?id=7 HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive, close\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n");
        await proxy.StopAsync();

        Assert.Equal(ProductionOk, response);
        const string Expected = "GET /products?id=7 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\nConnection: close\r\n\r\n";
        Assert.Equal(Expected, Assert.Single(production.Requests));
        Assert.Equal(Expected, Assert.Single(shadow.Requests));
        Assert.Matches(@"^/products\?id=7 \d+\.\d{3} \d+\.\d{3} -?\d+\.\d{3} 200 500$", Assert.Single(proxy.RequestLines));
    }

    [Fact]
    public async Task A_client_over_IPv6_is_served_and_mirrored_like_any_other()
    {
        // The box's ip6tables redirect brings IPv6 clients to a proxy listening on [::]; here on [::1], loopback only.
        await using var production = LoopbackBackend.Start(ProductionOk);
        await using var shadow = LoopbackBackend.Start(ShadowFails);
        await using var proxy = await TestProxy.StartAsync(
            production.EndPoint, shadow.EndPoint, options => options with { Listen = new IPEndPoint(IPAddress.IPv6Loopback, 0) });

        IPEndPoint listening = proxy.EndPoint;
        string response = await RawHttp.SendAsync(listening, "GET /v6 HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n");
        await proxy.StopAsync();

        Assert.Equal(AddressFamily.InterNetworkV6, listening.AddressFamily);
        Assert.Equal(ProductionOk, response);
        const string Expected = "GET /v6 HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n";
        Assert.Equal(Expected, Assert.Single(production.Requests));
        Assert.Equal(Expected, Assert.Single(shadow.Requests));
        Assert.Matches(@"^/v6 \d+\.\d{3} \d+\.\d{3} -?\d+\.\d{3} 200 500$", Assert.Single(proxy.RequestLines));
    }

    [Fact]
    public async Task Content_length_body_reaches_both_backends_byte_for_byte()
    {
        await using var production = LoopbackBackend.Start(ProductionOk);
        await using var shadow = LoopbackBackend.Start(ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        string body = "{\"note\":\"GET /x HTTP/1.1\\r\\n\"}\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" + new string('z', 70_000);
        string request = $"POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";

        string response = await RawHttp.SendAsync(proxy.EndPoint, request);
        await proxy.StopAsync();

        Assert.Equal(ProductionOk, response);
        string expected = $"POST /orders HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
        Assert.Equal(expected, Assert.Single(production.Requests));
        Assert.Equal(expected, Assert.Single(shadow.Requests));
        Assert.Single(proxy.RequestLines);
    }

    [Fact]
    public async Task Chunked_body_with_extensions_and_trailers_is_forwarded_untouched()
    {
        await using var production = LoopbackBackend.Start(ProductionOk);
        await using var shadow = LoopbackBackend.Start(ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        const string Body = "5;name=value\r\nhello\r\nF\r\n HTTP/1.1\r\n\r\nab\r\n0\r\nX-Checksum: 42\r\n\r\n";
        const string Head = "POST /upload HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n";

        string response = await RawHttp.SendAsync(proxy.EndPoint, Head + "Connection: close\r\n\r\n" + Body);
        await proxy.StopAsync();

        Assert.Equal(ProductionOk, response);
        Assert.Equal(Head + "Connection: close\r\n\r\n" + Body, Assert.Single(production.Requests));
        Assert.Equal(Head + "Connection: close\r\n\r\n" + Body, Assert.Single(shadow.Requests));
    }

    [Fact]
    public async Task Chunk_sizes_padded_with_leading_zeros_are_valid_and_forwarded_untouched()
    {
        // chunk-size is 1*HEXDIG (RFC 9112 §7.1): zeros in front do not make a size large. Only its value can overflow.
        await using var production = LoopbackBackend.Start(ProductionOk);
        await using var shadow = LoopbackBackend.Start(ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        string body = new string('0', 20) + "5\r\nhello\r\n" + new string('0', 16) + "\r\n\r\n";
        string request = "POST /padded HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body;

        string response = await RawHttp.SendAsync(proxy.EndPoint, request);
        await proxy.StopAsync();

        Assert.Equal(ProductionOk, response);
        Assert.Equal(request, Assert.Single(production.Requests));
        Assert.Equal(request, Assert.Single(shadow.Requests));
    }

    [Fact]
    public async Task A_request_split_at_every_byte_position_is_framed_identically()
    {
        await using var production = LoopbackBackend.Start(ProductionOk);
        await using var shadow = LoopbackBackend.Start(ShadowFails);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, options => options with { ClientKeepAlive = false });
        byte[] request = Encoding.ASCII.GetBytes(
            "POST /a?b=c HTTP/1.1\r\nHost: h\r\nKeep-Alive: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nHTT\r\n4;x=y\r\nP/1.\r\n0\r\nT: 1\r\n\r\n");
        const string Expected = "POST /a?b=c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nHTT\r\n4;x=y\r\nP/1.\r\n0\r\nT: 1\r\n\r\n";

        for (int split = 1; split < request.Length; split++)
        {
            string response = await RawHttp.SendPiecesAsync(proxy.EndPoint, [request[..split], request[split..]]);
            Assert.Equal(ProductionOk, response);
        }

        await proxy.StopAsync();
        Assert.Equal(request.Length - 1, production.Requests.Count);
        Assert.All(production.Requests, received => Assert.Equal(Expected, received));
        Assert.All(shadow.Requests, received => Assert.Equal(Expected, received));
        Assert.Equal(request.Length - 1, shadow.Requests.Count);
        Assert.Equal(request.Length - 1, proxy.RequestLines.Count);
        Assert.All(proxy.RequestLines, line => Assert.EndsWith(" 200 500", line));
    }

    [Fact]
    public async Task A_request_sent_one_byte_at_a_time_is_framed_identically()
    {
        await using var production = LoopbackBackend.Start(ProductionOk);
        await using var shadow = LoopbackBackend.Start(ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        const string Request = "PUT /item/9 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world";

        string response = await RawHttp.SendPiecesAsync(
            proxy.EndPoint, Encoding.ASCII.GetBytes(Request).Select(b => new[] { b }), TimeSpan.FromMilliseconds(1));
        await proxy.StopAsync();

        Assert.Equal(ProductionOk, response);
        Assert.Equal(Request, Assert.Single(production.Requests));
        Assert.Equal(Request, Assert.Single(shadow.Requests));
    }

    [Fact]
    public async Task Production_response_streams_to_the_client_before_production_has_finished()
    {
        var clientSawFirstPart = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nfirst");
            // The rest is only sent once the client has shown it received the first part: a proxy that held the
            // response back until production finished would never show it, and the test would time out.
            await clientSawFirstPart.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await connection.SendAsync("-last");
        });
        await using var shadow = LoopbackBackend.Start(ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(proxy.EndPoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));

        var received = new StringBuilder();
        byte[] buffer = new byte[4096];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!received.ToString().EndsWith("first", StringComparison.Ordinal))
        {
            int read = await socket.ReceiveAsync(buffer, limit.Token);
            Assert.NotEqual(0, read);
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        clientSawFirstPart.SetResult();
        for (int read; (read = await socket.ReceiveAsync(buffer, limit.Token)) > 0;)
        {
            received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        Assert.EndsWith("\r\n\r\nfirst-last", received.ToString(), StringComparison.Ordinal);
    }
}
