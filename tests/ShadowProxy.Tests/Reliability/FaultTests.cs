using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// Each fault of a client, production or the shadow, on real loopback sockets. After each: the proxy still serves
/// (a good request afterwards gets its answer), the right request line is written, and no connection stays open.
/// </summary>
public sealed class FaultTests
{
    private const string Ok = FaultyBackends.ProductionOk;

    [Fact]
    public async Task Client_disconnecting_mid_request_abandons_both_copies_and_the_proxy_serves_on()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        await LoadClient.DisconnectMidRequestAsync(proxy.EndPoint);
        await proxy.WaitForLinesAsync(1);
        await AssertServesOnAsync(proxy);

        RequestRecord aborted = proxy.Records[0];
        Assert.Equal("/upload", aborted.Url);
        Assert.Equal(BackendError.Aborted, aborted.Production.Error);
        Assert.Equal(BackendError.Aborted, aborted.Shadow.Error);
        // Production saw the request cut short exactly where the client stopped; nothing was made up to complete it.
        Assert.All(
            backends.Production.Requests.Where(request => request.StartsWith("POST /upload", StringComparison.Ordinal)),
            request => Assert.EndsWith("\r\n\r\nonly a little", request, StringComparison.Ordinal));
        await AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task Client_disconnecting_mid_response_stops_the_relay_and_the_proxy_serves_on()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        await LoadClient.DisconnectMidResponseAsync(proxy.EndPoint);
        await proxy.WaitForLinesAsync(1);
        await AssertServesOnAsync(proxy);

        RequestRecord cut = proxy.Records[0];
        Assert.Equal(FaultyBackends.ProductionTrickles, cut.Url);
        Assert.Equal(BackendError.Aborted, cut.Production.Error);
        Assert.True(cut.Production.Bytes < FaultyBackends.HugeBodyBytes, "the relay should stop when the client is gone, not read production to the end");
        await AssertAllClosedAsync(proxy);
    }

    [Theory]
    [InlineData(FaultyBackends.ProductionCloses, nameof(BackendError.Reset))]
    [InlineData(FaultyBackends.ProductionHalfCloses, nameof(BackendError.Reset))]
    [InlineData(FaultyBackends.ProductionInvalid, nameof(BackendError.InvalidResponse))]
    public async Task Production_closing_or_answering_garbage_gets_the_client_a_502_and_the_proxy_serves_on(string path, string expectedError)
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
        await proxy.WaitForLinesAsync(1);
        await AssertServesOnAsync(proxy);

        Assert.StartsWith("HTTP/1.1 502 Bad Gateway\r\n", response, StringComparison.Ordinal);
        Assert.Equal(Enum.Parse<BackendError>(expectedError), proxy.Records[0].Production.Error);
        Assert.Equal(201, proxy.Records[0].Shadow.StatusCode);
        await AssertAllClosedAsync(proxy);
    }

    [Theory]
    [InlineData(FaultyBackends.ShadowResets, nameof(BackendError.Reset))]
    [InlineData(FaultyBackends.ShadowHalfCloses, nameof(BackendError.Reset))]
    [InlineData(FaultyBackends.ShadowInvalid, nameof(BackendError.InvalidResponse))]
    public async Task Shadow_closing_or_answering_garbage_is_recorded_and_the_client_never_notices(string path, string expectedError)
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await proxy.WaitForLinesAsync(1);
        await AssertServesOnAsync(proxy);

        Assert.Equal(Ok, response);
        Assert.Equal(200, proxy.Records[0].Production.StatusCode);
        Assert.Equal(Enum.Parse<BackendError>(expectedError), proxy.Records[0].Shadow.Error);
        Assert.Null(proxy.Records[0].Shadow.Elapsed);
        await AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task An_early_413_before_the_body_is_read_reaches_the_client_and_the_proxy_serves_on()
    {
        await using var backends = new FaultyBackends();
        // A buffer larger than the body: here the shadow is not to fall behind (LimitTests covers that), only to answer early.
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { MaxShadowBufferBytes = 8 * 1024 * 1024 });
        string body = new('b', 2 * 1024 * 1024);

        string response = await SendWhileReadingAsync(proxy, $"POST {FaultyBackends.EarlyAnswer} HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\n\r\n{body}");
        await proxy.WaitForLinesAsync(1);
        await AssertServesOnAsync(proxy);

        Assert.StartsWith("HTTP/1.1 413 Content Too Large\r\n", response, StringComparison.Ordinal);
        Assert.Equal(413, proxy.Records[0].Production.StatusCode);
        Assert.Equal(BackendError.None, proxy.Records[0].Production.Error);
        Assert.True(413 == proxy.Records[0].Shadow.StatusCode, proxy.Records[0].Shadow.ToString());
        await AssertAllClosedAsync(proxy);
    }

    [Theory]
    [InlineData(FaultyBackends.EarlyAnswer, false, "HTTP/1.1 413 Content Too Large\r\n")]
    [InlineData(FaultyBackends.EarlyAnswer, true, "HTTP/1.1 413 Content Too Large\r\n")]
    [InlineData("/unreachable", false, "HTTP/1.1 502 Bad Gateway\r\n")]
    [InlineData("/unreachable", true, "HTTP/1.1 502 Bad Gateway\r\n")]
    public async Task An_early_answer_reaches_a_client_that_sends_its_whole_body_before_reading(string path, bool chunked, string expectedStatusLine)
    {
        // Python's http.client (urllib, requests) sends all of the body, then reads. nginx reads the rest of a body it
        // answered early; the proxy's lingering close used to stop at 1 MiB of it and close over the rest, and that
        // reset threw the answer away: the client saw a broken pipe instead of production's 413, or the 502.
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            path == "/unreachable" ? TestProxy.ClosedPort() : backends.Production.EndPoint, backends.Shadow.EndPoint);
        const int ChunkBytes = 64 * 1024;
        string chunk = new('b', ChunkBytes);
        string body = chunked
            ? string.Concat(Enumerable.Repeat($"{ChunkBytes:x}\r\n{chunk}\r\n", 256)) + "0\r\n\r\n"
            : string.Concat(Enumerable.Repeat(chunk, 256));
        string framing = chunked ? "Transfer-Encoding: chunked" : $"Content-Length: {body.Length}";
        await using var connection = await RawConnection.OpenAsync(proxy.EndPoint);

        await connection.SendAsync($"POST {path} HTTP/1.1\r\nHost: h\r\n{framing}\r\n\r\n{body}");
        string response = await connection.ReadResponseAsync();

        Assert.StartsWith(expectedStatusLine, response, StringComparison.Ordinal);
        await proxy.WaitForLinesAsync(1);
        await AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_shadow_that_answers_early_after_production_did_still_has_its_answer_recorded()
    {
        // Production answers at once, the shadow 300 ms later: by then the proxy has stopped reading the client's
        // body, so the shadow's copy is cut. Its answer, already on its way, is still read.
        await using var backends = new FaultyBackends();
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            await Task.Delay(300);
            await connection.SendAsync("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            await connection.WaitForCloseAsync();
        });
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, shadow.EndPoint, options => options with { MaxShadowBufferBytes = 8 * 1024 * 1024 });
        string body = new('b', 2 * 1024 * 1024);

        string response = await SendWhileReadingAsync(proxy, $"POST {FaultyBackends.EarlyAnswer} HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\n\r\n{body}");
        await proxy.WaitForLinesAsync(1);

        Assert.StartsWith("HTTP/1.1 413 Content Too Large\r\n", response, StringComparison.Ordinal);
        Assert.Equal(413, proxy.Records[0].Production.StatusCode);
        Assert.True(413 == proxy.Records[0].Shadow.StatusCode, proxy.Records[0].Shadow.ToString());
        await AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task Production_answering_early_and_resetting_leaves_the_proxy_serving()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? head = await connection.ReadHeadAsync();
            if (head?.StartsWith("POST /upload ", StringComparison.Ordinal) == true)
            {
                await connection.SendAsync("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
                connection.Reset();
            }
            else if (head is not null)
            {
                await connection.ReadBodyAsync(head);
                await connection.SendAsync(Ok);
            }
        });
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        string body = new('b', 2 * 1024 * 1024);

        string response = await SendWhileReadingAsync(proxy, $"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\n\r\n{body}");
        await proxy.WaitForLinesAsync(1);

        // The reset may overtake the 413 inside the proxy's host: then production's answer is lost and 502 is right.
        await AssertServesOnAsync(proxy);
        Assert.Matches(@"^HTTP/1\.1 (413 Content Too Large|502 Bad Gateway)\r\n", response);
        await AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_huge_production_response_streams_through_whole_and_the_proxy_serves_on()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET {FaultyBackends.ProductionHuge} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await proxy.WaitForLinesAsync(1);
        await AssertServesOnAsync(proxy);

        Assert.EndsWith(new string('h', FaultyBackends.HugeBodyBytes), response, StringComparison.Ordinal);
        Assert.Equal(response.Length, proxy.Records[0].Production.Bytes);
        await AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_huge_shadow_response_is_counted_not_held_and_the_client_never_notices()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET {FaultyBackends.ShadowHuge} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await proxy.WaitForLinesAsync(1);
        await AssertServesOnAsync(proxy);

        Assert.Equal(Ok, response);
        Assert.Equal(BackendError.None, proxy.Records[0].Shadow.Error);
        Assert.True(proxy.Records[0].Shadow.Bytes > FaultyBackends.HugeBodyBytes);
        await AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_shadow_that_accepts_and_never_answers_times_out_without_holding_up_the_client()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { ShadowTimeout = TimeSpan.FromSeconds(1) });
        var watch = Stopwatch.StartNew();

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET {FaultyBackends.ShadowSilent} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        TimeSpan clientTime = watch.Elapsed;
        await proxy.WaitForLinesAsync(1);
        TimeSpan lineTime = watch.Elapsed;
        await AssertServesOnAsync(proxy);

        Assert.Equal(Ok, response);
        Assert.True(clientTime < lineTime, $"the client ({clientTime}) must not wait for the silent shadow (line after {lineTime})");
        Assert.True(lineTime >= TimeSpan.FromSeconds(0.9), $"the line waits for the shadow timeout, got it after {lineTime}");
        Assert.Equal(BackendError.Timeout, proxy.Records[0].Shadow.Error);
        await AssertAllClosedAsync(proxy);
    }

    /// <summary>Sends a request while reading the answer, as a browser does: an early answer is seen even though the upload is cut.</summary>
    private static async Task<string> SendWhileReadingAsync(TestProxy proxy, string request)
    {
        await using var connection = await RawConnection.OpenAsync(proxy.EndPoint);
        Task sending = connection.SendAsync(request);
        string response = await connection.ReadResponseAsync();
        try
        {
            await sending;
        }
        catch (IOException)
        {
            // The proxy closed once production had answered: the rest of the upload was not wanted.
        }

        return response;
    }

    internal static async Task AssertServesOnAsync(TestProxy proxy)
    {
        int lines = proxy.Records.Count;
        string response = await RawHttp.SendAsync(proxy.EndPoint, "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        Assert.Equal(Ok, response);
        await proxy.WaitForLinesAsync(lines + 1);
    }

    /// <summary>Every connection has ended: what the drain has to wait for is nothing.</summary>
    internal static async Task AssertAllClosedAsync(TestProxy proxy)
    {
        var watch = Stopwatch.StartNew();
        await proxy.StopAsync();
        Assert.Equal(0, proxy.Server.ActiveConnections);
        // Generous: the drain timeout here is 15 s; a connection the fault had left hanging would take all of it.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"nothing should be left to drain, but stopping took {watch.Elapsed}");
    }
}
