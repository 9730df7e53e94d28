using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

/// <summary>
/// Production's responses as the client gets them when their framing fields disagree or describe the connection
/// (RFC 9112 §6.3, §9.6): the client must be able to frame what it gets exactly as the proxy did.
/// </summary>
public sealed class ResponseFramingTests
{
    [Fact]
    public async Task A_chunked_response_that_also_has_a_Content_Length_reaches_the_client_without_the_length()
    {
        // Transfer-Encoding overrides Content-Length; a proxy forwarding such a response must drop the length
        // (RFC 9112 §6.3 item 3), or a client or cache that trusts it reads 3 bytes and takes the rest for the next response.
        await using var production = LoopbackBackend.Start(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /both HTTP/1.1\r\nHost: h\r\n\r\n");
        string first = await client.ReadResponseAsync();
        await client.SendAsync("GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
        string second = await client.ReadResponseAsync();
        await proxy.StopAsync();

        const string Expected = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        Assert.Equal(Expected, first);
        Assert.Equal(Expected, second);
        Assert.Equal(2, proxy.RequestLines.Count);
        Assert.All(proxy.RequestLines, line => Assert.EndsWith(" 200 200", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_response_whose_final_coding_is_not_chunked_runs_to_the_close_whatever_its_Content_Length_says()
    {
        // With Transfer-Encoding present and chunked not last, the body ends at the close (RFC 9112 §6.3 item 3):
        // framing it by Content-Length cuts the client's answer short and leaves its connection open for more.
        await using var production = LoopbackBackend.Start(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\nConnection: close\r\n\r\n0123456789");
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /gzip HTTP/1.1\r\nHost: h\r\n\r\n");
        string? response = await client.ReadUntilEndedAsync(TimeSpan.FromSeconds(5));
        await proxy.StopAsync();

        Assert.Equal("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n0123456789", response);
        Assert.Equal(10, Assert.Single(proxy.Records).Production.Facts.BodyBytes);
    }

    [Theory]
    [InlineData(false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
    [InlineData(true, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5, max=100\r\n\r\nok")]
    public async Task With_client_keep_alive_off_every_answer_tells_the_client_its_connection_closes(bool backendKeepAlive, string answer)
    {
        // A server that does not keep connections must send "close" in every final response (RFC 9112 §9.6); what
        // production says about the proxy's own connection (nothing, or keep-alive) does not describe the client's.
        await using var production = LoopbackBackend.Start(answer);
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ClientKeepAlive = false, BackendKeepAlive = backendKeepAlive });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /once HTTP/1.1\r\nHost: h\r\n\r\n");
        string? response = await client.ReadUntilEndedAsync(TimeSpan.FromSeconds(5));
        await proxy.StopAsync();

        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", response);
    }

    [Theory]
    [InlineData("HTTP/1.1", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n")]
    [InlineData("HTTP/1.0", "")]
    public async Task Interim_answers_reach_an_http11_client_and_never_an_http10_one(string version, string interims)
    {
        // HTTP/1.0 has no 1xx (RFC 9110 §15.2: never sent to an HTTP/1.0 client): such a client takes the first head it
        // reads for the response, a 103 with no length, and reads the real answer as its body until the close.
        await using var production = LoopbackBackend.Start(
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync($"GET /hinted {version}\r\nHost: h\r\nConnection: close\r\n\r\n");
        string? response = await client.ReadUntilEndedAsync(TimeSpan.FromSeconds(5));
        await proxy.WaitForLinesAsync(1);

        Assert.Equal(interims + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", response);
        Assert.Equal(200, Assert.Single(proxy.Records).Production.StatusCode);
    }

    [Fact]
    public async Task A_chunked_answer_to_a_keep_alive_http10_client_ends_its_connection()
    {
        // Production must not send chunked to an HTTP/1.0 request (RFC 9112 §6.1). One that does leaves the client a
        // body it cannot frame (no chunked coding in 1.0, no length): it reads to the close, so the close must come,
        // not a "keep-alive" that leaves it waiting for the keep-alive timeout.
        await using var production = LoopbackBackend.Start("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ProductionOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        string? response = await client.ReadUntilEndedAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", response);
    }
}
