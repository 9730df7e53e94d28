using ShadowProxy.Http;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// The chunk-size line's bound (<see cref="ChunkedBodyScanner.MaxSizeLineBytes"/>, every byte before its CRLF, the ';'
/// included) at its edge, in both directions on real sockets: a line of exactly the bound goes through untouched, one
/// byte longer gets a request 400 and cuts a response where its valid framing ends.
/// </summary>
public sealed class ChunkSizeLineBoundTests
{
    private const string ResponseHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    private const string FirstChunk = "5\r\nfirst\r\n";
    private static readonly TimeSpan CutWithin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_request_whose_size_line_is_exactly_the_bound_reaches_both_backends_untouched()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);
        string request = "POST /bound HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + ChunkedBody(ChunkedBodyScanner.MaxSizeLineBytes);

        string response = await RawHttp.SendAsync(proxy.EndPoint, request);
        await proxy.WaitForLinesAsync(1);
        await proxy.StopAsync();

        Assert.Equal(FaultyBackends.ProductionOk, response);
        Assert.Equal(request, Assert.Single(backends.Production.Requests));
        Assert.Equal(request, Assert.Single(backends.Shadow.Requests));
    }

    [Fact]
    public async Task A_request_whose_size_line_is_one_byte_over_the_bound_gets_400_and_its_backends_no_byte_past_it()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);
        const string Head = "POST /over HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
        string body = ChunkedBody(ChunkedBodyScanner.MaxSizeLineBytes + 1);

        string response = await LoadClient.SendGarbageAsync(proxy.EndPoint, System.Text.Encoding.Latin1.GetBytes(Head + body));
        await proxy.WaitForLinesAsync(1);
        await FaultTests.AssertServesOnAsync(proxy);
        await proxy.StopAsync();

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", response, StringComparison.Ordinal);
        // The head streams on before the body is seen; of the body, at most the bytes within the bound.
        foreach (LoopbackBackend backend in new[] { backends.Production, backends.Shadow })
        {
            string? received = backend.Requests.SingleOrDefault(request => request.StartsWith("POST /over", StringComparison.Ordinal));
            if (received is not null)
            {
                string forwarded = received[(received.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
                Assert.True(forwarded.Length <= ChunkedBodyScanner.MaxSizeLineBytes, $"forwarded {forwarded.Length} bytes of the body");
                Assert.StartsWith(forwarded, body, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task A_response_whose_size_line_is_exactly_the_bound_reaches_the_client_whole()
    {
        string body = FirstChunk + ChunkedBody(ChunkedBodyScanner.MaxSizeLineBytes);
        await using var production = LoopbackBackend.Start(ResponseHead + body);
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /bound HTTP/1.1\r\nHost: h\r\n\r\n");
        string received = await client.ReadThroughAsync("0\r\n\r\n", CutWithin);
        await proxy.WaitForLinesAsync(1);

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", received, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n" + body, received, StringComparison.Ordinal);
        RequestRecord record = proxy.Records[0];
        Assert.Equal((200, BackendError.None), (record.Production.StatusCode, record.Production.Error));
    }

    [Fact]
    public async Task A_response_whose_size_line_is_one_byte_over_the_bound_is_cut_where_its_valid_framing_ends()
    {
        // The client already holds the head and the first chunk, so it cannot get a 502: the connection is cut, after the
        // line's bytes within the bound and never the one past it.
        string line = SizeLine(ChunkedBodyScanner.MaxSizeLineBytes + 1);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            if (await connection.ReadRequestAsync() is null)
            {
                return;
            }

            await connection.SendAsync(ResponseHead + FirstChunk + line + "\r\nhello\r\n0\r\n\r\n");
            await connection.WaitForCloseAsync();   // the proxy, not production, ends it
        });
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /over HTTP/1.1\r\nHost: h\r\n\r\n");
        string? received = await client.ReadUntilEndedAsync(CutWithin);
        await proxy.WaitForLinesAsync(1);

        Assert.True(received is not null, "the client connection should be cut where production's size line passes its bound");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", received, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n" + FirstChunk + line[..ChunkedBodyScanner.MaxSizeLineBytes], received, StringComparison.Ordinal);
        RequestRecord record = proxy.Records[0];
        Assert.Equal((200, BackendError.InvalidResponse), (record.Production.StatusCode, record.Production.Error));
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    /// <summary>A body whose first size line (of chunk "hello") is <paramref name="lineBytes"/> bytes before its CRLF.</summary>
    private static string ChunkedBody(int lineBytes) => SizeLine(lineBytes) + "\r\nhello\r\n0\r\n\r\n";

    /// <summary>"5;a=vvv…": a size, an extension and its value, <paramref name="length"/> bytes in all.</summary>
    private static string SizeLine(int length) => "5;a=" + new string('v', length - "5;a=".Length);
}
