using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// Heads that two parsers could frame two ways (RFC 9112 §6.3, §11.2): answered 400 and never forwarded, so neither
/// backend ever sees the bytes a smuggled request would hide in. The proxy serves on afterwards.
/// </summary>
public sealed class SmugglingTests
{
    public static TheoryData<string, string> SmugglingHeads => new()
    {
        { "Content-Length with Transfer-Encoding", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG" },
        { "Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG" },
        { "two different Content-Lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n" },
        { "a Content-Length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 40\r\n\r\nabc" },
        { "a signed Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc" },
        { "obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n" },
        { "obs-fold of Transfer-Encoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc" },
        { "bare LF between fields", "GET / HTTP/1.1\r\nHost: h\nX-Hidden: 1\r\n\r\n" },
        { "bare LF in the request line", "GET / HTTP/1.1\nHost: h\r\n\r\n" },
        { "bare LF only", "GET / HTTP/1.1\nHost: h\n\n" },
        { "bare CR", "GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n" },
        { "Transfer-Encoding on HTTP/1.0", "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" },
        { "chunked not the final coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" },
        { "chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" },
        { "an unknown coding only", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" },
        { "space before the colon", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length : 3\r\n\r\nabc" },
        { "space before the colon of Transfer-Encoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc" },
        { "two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" },
        { "no Host on HTTP/1.1", "GET / HTTP/1.1\r\nX: 1\r\n\r\n" },
        { "a control character in a value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n" },
        { "a space in the target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n" },
        { "an unknown version", "GET / HTTP/1.2\r\nHost: h\r\n\r\n" },
    };

    public static TheoryData<string, string> InvalidChunkSizes => new()
    {
        { "not hex", "zz\r\nhello\r\n0\r\n\r\n" },
        { "negative", "-5\r\nhello\r\n0\r\n\r\n" },
        { "0x prefix", "0x5\r\nhello\r\n0\r\n\r\n" },
        { "overflowing", "10000000000000005\r\nhello\r\n0\r\n\r\n" },
        { "empty", "\r\nhello\r\n0\r\n\r\n" },
        { "bare LF after the size", "5\nhello\r\n0\r\n\r\n" },
        { "data longer than its size", "3\r\nhello\r\n0\r\n\r\n" },
        { "obs-fold in a trailer", "0\r\nX: a\r\n b\r\n\r\n" },
        { "text after the size without a ';'", "5 xyz\r\nhello\r\n0\r\n\r\n" },
        { "an extension without a name", "5;\r\nhello\r\n0\r\n\r\n" },
        { "a trailer line without a colon", "0\r\nX-No-Colon\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(SmugglingHeads))]
    public async Task An_ambiguous_head_gets_400_and_reaches_neither_backend(string shape, string request)
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        string response = await LoadClient.SendGarbageAsync(proxy.EndPoint, System.Text.Encoding.Latin1.GetBytes(request));
        await proxy.StopAsync();

        Assert.True(response.StartsWith("HTTP/1.1 400 Bad Request\r\n", StringComparison.Ordinal), $"{shape}: {response}");
        Assert.Equal(0, backends.Production.ConnectionCount);
        Assert.Equal(0, backends.Shadow.ConnectionCount);
        Assert.Empty(proxy.Records);
    }

    [Fact]
    public async Task A_head_of_bare_LF_lines_gets_400_at_once_not_silence_until_the_client_timeout()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        // The client stays connected, waiting for an answer: a reader looking only for CRLFCRLF would wait 30 s.
        string response = await RawHttp.SendAsync(proxy.EndPoint, "POST / HTTP/1.1\nHost: h\nContent-Length: 5\n\nhello");
        await proxy.StopAsync();

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", response, StringComparison.Ordinal);
        Assert.Equal(0, backends.Production.ConnectionCount);
        Assert.Equal(0, backends.Shadow.ConnectionCount);
    }

    [Theory]
    [MemberData(nameof(InvalidChunkSizes))]
    public async Task An_invalid_chunked_body_gets_400_and_its_invalid_bytes_reach_neither_backend(string shape, string body)
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);
        const string Head = "POST /chunks HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

        string response = await LoadClient.SendGarbageAsync(proxy.EndPoint, System.Text.Encoding.Latin1.GetBytes(Head + body));
        await proxy.WaitForLinesAsync(1);
        await FaultTests.AssertServesOnAsync(proxy);
        await proxy.StopAsync();

        // The head streams on before the body is seen, so a backend may have it; never the body's invalid part,
        // and never a complete request: its connection is closed mid-body.
        Assert.True(response.StartsWith("HTTP/1.1 400 Bad Request\r\n", StringComparison.Ordinal), $"{shape}: {response}");
        foreach (LoopbackBackend backend in new[] { backends.Production, backends.Shadow })
        {
            string? received = backend.Requests.SingleOrDefault(request => request.StartsWith("POST /chunks", StringComparison.Ordinal));
            if (received is not null)
            {
                string forwarded = received[(received.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
                Assert.True(forwarded.Length < body.Length && body.StartsWith(forwarded, StringComparison.Ordinal), $"{shape}: forwarded '{forwarded}'");
            }
        }

        Assert.Equal(ShadowProxy.Proxy.BackendError.Aborted, proxy.Records[0].Shadow.Error);
    }
}
