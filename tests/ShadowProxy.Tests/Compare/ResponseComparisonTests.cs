using System.Text.Json;
using ShadowProxy.Compare;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Compare;

/// <summary>Both answers compared while they stream: status, payload hash and size, time to first byte, the diff word.</summary>
public sealed class ResponseComparisonTests
{
    private const string Get = "GET /items/7 HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n";

    private static string Response(string status, string body, string type = "text/plain") =>
        $"HTTP/1.1 {status}\r\nContent-Type: {type}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";

    private static async Task<(RequestRecord Record, JsonElement Line)> ExchangeAsync(
        string productionResponse, string shadowResponse, Func<ProxyOptions, ProxyOptions>? configure = null, string request = Get)
    {
        await using var production = LoopbackBackend.Start(productionResponse);
        await using var shadow = LoopbackBackend.Start(shadowResponse);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, configure);
        string response = await RawHttp.SendAsync(proxy.EndPoint, request);
        await proxy.StopAsync();

        Assert.Equal(productionResponse, response);
        RequestRecord record = Assert.Single(proxy.Records);
        using var json = new JsonRequestLine();
        return (record, JsonDocument.Parse(json.Format(record)).RootElement.Clone());
    }

    [Fact]
    public async Task The_same_payload_framed_by_length_and_by_chunks_is_the_same()
    {
        const string Chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";

        (RequestRecord record, JsonElement line) = await ExchangeAsync(Response("200 OK", "hello world"), Chunked);

        Assert.Equal("same", line.GetProperty("diff").GetString());
        Assert.True(line.GetProperty("status_match").GetBoolean());
        Assert.True(line.GetProperty("body_match").GetBoolean());
        Assert.Equal(11, line.GetProperty("production_body_bytes").GetInt64());
        Assert.Equal(11, line.GetProperty("shadow_body_bytes").GetInt64());
        Assert.Equal(System.IO.Hashing.XxHash3.HashToUInt64("hello world"u8).ToString("x16", System.Globalization.CultureInfo.InvariantCulture),
            line.GetProperty("production_body_hash").GetString());
        Assert.Equal(line.GetProperty("production_body_hash").GetString(), line.GetProperty("shadow_body_hash").GetString());
        Assert.Equal(JsonValueKind.Null, line.GetProperty("shadow_skipped").ValueKind);
        Assert.NotNull(record.Shadow.Facts.FirstByte);
    }

    [Fact]
    public async Task A_different_body_with_the_same_status_is_body()
    {
        (_, JsonElement line) = await ExchangeAsync(Response("200 OK", "price=10"), Response("200 OK", "price=12"));

        Assert.Equal("body", line.GetProperty("diff").GetString());
        Assert.True(line.GetProperty("status_match").GetBoolean());
        Assert.False(line.GetProperty("body_match").GetBoolean());
        Assert.NotEqual(line.GetProperty("production_body_hash").GetString(), line.GetProperty("shadow_body_hash").GetString());
    }

    [Fact]
    public async Task A_different_status_is_status_even_when_the_bodies_differ_too()
    {
        (_, JsonElement line) = await ExchangeAsync(Response("200 OK", "ok"), Response("500 Oops", "stack trace"));

        Assert.Equal("status", line.GetProperty("diff").GetString());
        Assert.False(line.GetProperty("status_match").GetBoolean());
        Assert.False(line.GetProperty("body_match").GetBoolean());
    }

    [Fact]
    public async Task A_shadow_that_resets_mid_body_is_shadow_error_with_no_body_verdict()
    {
        await using var production = LoopbackBackend.Start(Response("200 OK", "0123456789"));
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234");
        });
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await RawHttp.SendAsync(proxy.EndPoint, Get);
        await proxy.StopAsync();

        Comparison comparison = Assert.Single(proxy.Records).Comparison;
        Assert.Equal(new Comparison(true, null, DiffKind.ShadowError), comparison);
    }

    [Fact]
    public async Task A_shadow_cut_mid_body_keeps_its_time_to_first_byte_and_the_body_bytes_it_sent_as_production_does()
    {
        // Both answer a head and half the body, then close: the line tells the same of both, the head's time and the
        // five payload bytes, with no hash of a body that was not read whole.
        await using var production = LoopbackBackend.Start(HalfAnswerAsync);
        await using var shadow = LoopbackBackend.Start(HalfAnswerAsync);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await RawHttp.SendAsync(proxy.EndPoint, Get);
        await proxy.StopAsync();

        RequestRecord record = Assert.Single(proxy.Records);
        using var json = new JsonRequestLine();
        JsonElement line = JsonDocument.Parse(json.Format(record)).RootElement;
        foreach (string side in (string[])["production", "shadow"])
        {
            Assert.Equal("reset", line.GetProperty(side + "_error").GetString());
            Assert.Equal(200, line.GetProperty(side + "_status").GetInt32());
            Assert.Equal(JsonValueKind.Number, line.GetProperty(side + "_ttfb").ValueKind);
            Assert.Equal(5, line.GetProperty(side + "_body_bytes").GetInt64());
            Assert.Equal(JsonValueKind.Null, line.GetProperty(side + "_body_hash").ValueKind);
        }
    }

    private static async Task HalfAnswerAsync(BackendConnection connection)
    {
        await connection.ReadRequestAsync();
        await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234");
    }

    [Fact]
    public async Task A_refused_shadow_is_shadow_error()
    {
        await using var production = LoopbackBackend.Start(Response("200 OK", "ok"));
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, TestProxy.ClosedPort());
        await RawHttp.SendAsync(proxy.EndPoint, Get);
        await proxy.StopAsync();

        RequestRecord record = Assert.Single(proxy.Records);
        Assert.Equal(new Comparison(null, null, DiffKind.ShadowError), record.Comparison);
        using var json = new JsonRequestLine();
        JsonElement line = JsonDocument.Parse(json.Format(record)).RootElement;
        Assert.Equal(JsonValueKind.Null, line.GetProperty("shadow_ttfb").ValueKind);
        Assert.Equal(JsonValueKind.Null, line.GetProperty("shadow_body_bytes").ValueKind);
        Assert.Equal(JsonValueKind.Number, line.GetProperty("production_ttfb").ValueKind);
    }

    [Fact]
    public async Task Time_to_first_byte_ends_at_the_head_not_the_body()
    {
        TimeSpan pause = TimeSpan.FromMilliseconds(300);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n");
            await Task.Delay(pause);   // the backend's behaviour under test, not a wait for a result
            await connection.SendAsync("slow");
        });
        await using var shadow = LoopbackBackend.Start(Response("200 OK", "slow"));
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await RawHttp.SendAsync(proxy.EndPoint, Get);
        await proxy.StopAsync();

        BackendResult result = Assert.Single(proxy.Records).Production;
        TimeSpan firstByte = Assert.NotNull(result.Facts.FirstByte);
        // Half the pause, not all of it: on a loaded box the head may be read late, which shortens the gap it is
        // measured to. Counted at the body, the first byte would leave no gap at all.
        Assert.True(result.Elapsed - firstByte >= pause / 2, $"ttfb {firstByte}, whole {result.Elapsed}");
        Assert.Equal(DiffKind.Same, Assert.Single(proxy.Records).Comparison.Diff);
    }

    [Fact]
    public async Task Json_bodies_that_differ_only_in_ignored_fields_are_the_same()
    {
        const string Left = """{"id":7,"timestamp":"2026-11-27T00:00:01Z","items":[{"sku":"a","traceId":"1"}]}""";
        const string Right = """{ "items": [ { "traceId": "2", "sku": "a" } ], "id": 7, "timestamp": "2026-11-27T00:00:02Z" }""";
        string productionResponse = Response("200 OK", Left, "application/json");
        string shadowResponse = Response("200 OK", Right, "application/json");

        (_, JsonElement plain) = await ExchangeAsync(productionResponse, shadowResponse);
        (_, JsonElement ignoring) = await ExchangeAsync(productionResponse, shadowResponse,
            options => options with { Comparison = new BodyComparison(["timestamp", "traceId"], BodyComparison.DefaultJsonMaxBytes) });

        Assert.Equal("body", plain.GetProperty("diff").GetString());
        Assert.Equal("same", ignoring.GetProperty("diff").GetString());
        Assert.True(ignoring.GetProperty("body_match").GetBoolean());
    }

    [Fact]
    public async Task A_json_string_with_a_lone_surrogate_escape_is_compared_by_hash()
    {
        // Valid JSON syntax, but "\ud800" decodes to no character: the fingerprint cannot unescape it.
        const string Body = """{"name":"\ud800","timestamp":1}""";
        string response = Response("200 OK", Body, "application/json");

        (RequestRecord record, JsonElement line) = await ExchangeAsync(response, response,
            options => options with { Comparison = new BodyComparison(["timestamp"], BodyComparison.DefaultJsonMaxBytes) });

        Assert.Equal("same", line.GetProperty("diff").GetString());
        Assert.True(line.GetProperty("body_match").GetBoolean());
        Assert.Null(record.Production.Facts.JsonFingerprint);
    }

    [Fact]
    public async Task Json_naming_a_member_twice_is_compared_by_hash_since_the_order_then_counts()
    {
        // A client that keeps the last "price" sees 12 from production and 10 from the shadow.
        string production = Response("200 OK", """{"price":10,"price":12,"timestamp":1}""", "application/json");
        string shadow = Response("200 OK", """{"price":12,"price":10,"timestamp":2}""", "application/json");

        (RequestRecord record, JsonElement line) = await ExchangeAsync(production, shadow,
            options => options with { Comparison = new BodyComparison(["timestamp"], BodyComparison.DefaultJsonMaxBytes) });

        Assert.Equal("body", line.GetProperty("diff").GetString());
        Assert.Null(record.Production.Facts.JsonFingerprint);
    }

    [Fact]
    public async Task Json_over_the_bound_falls_back_to_the_hash()
    {
        string padding = new('p', 5000);
        string left = $$"""{"timestamp":1,"pad":"{{padding}}"}""";
        string right = $$"""{"timestamp":2,"pad":"{{padding}}"}""";
        string shadowChunked = $"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{right.Length:x}\r\n{right}\r\n0\r\n\r\n";

        (_, JsonElement within) = await ExchangeAsync(Response("200 OK", left), shadowChunked,
            options => options with { Comparison = new BodyComparison(["timestamp"], 8192) });
        (_, JsonElement over) = await ExchangeAsync(Response("200 OK", left), shadowChunked,
            options => options with { Comparison = new BodyComparison(["timestamp"], 4096) });

        Assert.Equal("same", within.GetProperty("diff").GetString());
        Assert.Equal("body", over.GetProperty("diff").GetString());
    }

    [Fact]
    public async Task A_tunnel_is_skipped_with_its_reason()
    {
        const string Upgrade = "GET /ws HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.SendAsync("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        });
        await using var shadow = LoopbackBackend.Start(Response("200 OK", "ok"));
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await RawHttp.SendAsync(proxy.EndPoint, Upgrade);
        await proxy.StopAsync();

        RequestRecord record = Assert.Single(proxy.Records);
        using var json = new JsonRequestLine();
        JsonElement line = JsonDocument.Parse(json.Format(record)).RootElement;
        Assert.Equal("skipped", line.GetProperty("diff").GetString());
        Assert.Equal("tunnel", line.GetProperty("shadow_skipped").GetString());
        Assert.Empty(shadow.Requests);
        Assert.EndsWith(" - - 101 -", TextRequestLine.Format(record), StringComparison.Ordinal);
    }
}
