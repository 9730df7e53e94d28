using System.Text.Json;
using ShadowProxy.Logging;
using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Controls;

/// <summary>Which requests the shadow gets: sampling, methods, body size, in-flight bound; every skip says why.</summary>
public sealed class MirrorControlTests
{
    private const string Ok = FaultyBackends.ProductionOk;

    private static Func<ProxyOptions, ProxyOptions> With(MirrorPolicy policy) => options => options with { Mirror = new MirrorPolicySource(policy) };

    private static string Get(string target, string extraHeader = "") => $"GET {target} HTTP/1.1\r\nHost: shop\r\n{extraHeader}Connection: close\r\n\r\n";

    [Fact]
    public async Task Percent_zero_mirrors_nothing_and_each_line_says_sampled_out()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, With(new MirrorPolicy { Percent = 0 }));

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, Get($"/p/{i}")));
        }

        await proxy.StopAsync();
        Assert.Equal(5, production.Requests.Count);
        Assert.Empty(shadow.Requests);
        Assert.All(proxy.Records, record => Assert.Equal(ShadowSkip.SampledOut, record.ShadowSkipped));
        Assert.All(proxy.RequestLines, line => Assert.Matches(@"^/p/\d \d+\.\d{3} - - 200 -$", line));
        using var json = new JsonRequestLine();
        JsonElement first = JsonDocument.Parse(json.Format(proxy.Records[0])).RootElement;
        Assert.Equal("sampled_out", first.GetProperty("shadow_skipped").GetString());
        Assert.Equal("skipped", first.GetProperty("diff").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("shadow_status").ValueKind);
    }

    [Fact]
    public async Task Random_percent_mirrors_some_and_skips_the_rest()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, With(new MirrorPolicy { Percent = 50 }));

        for (int i = 0; i < 40; i++)
        {
            await RawHttp.SendAsync(proxy.EndPoint, Get($"/r/{i}"));
        }

        await proxy.StopAsync();
        int mirrored = proxy.Records.Count(record => record.ShadowSkipped == ShadowSkip.None);
        Assert.InRange(mirrored, 1, 39);   // all or none at 50 % has odds of 2 in 2^40
        Assert.Equal(mirrored, shadow.Requests.Count);
        Assert.Equal(40 - mirrored, proxy.Records.Count(record => record.ShadowSkipped == ShadowSkip.SampledOut));
    }

    public static TheoryData<string, string> StickyKeys => new()
    {
        { "header:X-User-Id", "X-User-Id: {0}\r\n" },
        { "cookie:session", "Cookie: theme=dark; session={0}; lang=en\r\n" },
        { "query:user", "" },
    };

    [Theory]
    [MemberData(nameof(StickyKeys))]
    public async Task A_sticky_key_mirrors_a_users_whole_session_or_none_of_it(string key, string headerFormat)
    {
        Assert.True(StickyKey.TryParse(key, out StickyKey? sticky));
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, With(new MirrorPolicy { Percent = 50, Sticky = sticky }));

        for (int round = 0; round < 3; round++)
        {
            for (int user = 0; user < 24; user++)
            {
                string header = string.Format(System.Globalization.CultureInfo.InvariantCulture, headerFormat, $"user-{user}");
                await RawHttp.SendAsync(proxy.EndPoint, Get($"/s?user=user-{user}&round={round}", header));
            }
        }

        await proxy.StopAsync();
        var byUser = proxy.Records.GroupBy(record => record.Url[(record.Url.IndexOf('=', StringComparison.Ordinal) + 1)..record.Url.IndexOf('&', StringComparison.Ordinal)]).ToList();
        Assert.Equal(24, byUser.Count);
        Assert.All(byUser, session => Assert.Single(session.Select(record => record.ShadowSkipped).Distinct()));
        int mirroredUsers = byUser.Count(session => session.First().ShadowSkipped == ShadowSkip.None);
        Assert.InRange(mirroredUsers, 1, 23);
        Assert.Equal(mirroredUsers * 3, shadow.Requests.Count);
    }

    public static TheoryData<string, string, string> EmptyStickyKeys => new()
    {
        { "header:X-User-Id", "X-User-Id: \r\n", "" },
        { "cookie:session", "Cookie: theme=dark; session=; lang=en\r\n", "" },
        { "query:user", "", "&user=" },
    };

    /// <summary>An empty value names no user: hashed, every such request (all anonymous traffic) was in or out together.</summary>
    [Theory]
    [MemberData(nameof(EmptyStickyKeys))]
    public async Task A_sticky_key_with_an_empty_value_falls_back_to_chance(string key, string header, string query)
    {
        Assert.True(StickyKey.TryParse(key, out StickyKey? sticky));
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, With(new MirrorPolicy { Percent = 50, Sticky = sticky }));

        for (int i = 0; i < 40; i++)
        {
            await RawHttp.SendAsync(proxy.EndPoint, Get($"/e?n={i}{query}", header));
        }

        await proxy.StopAsync();
        int mirrored = proxy.Records.Count(record => record.ShadowSkipped == ShadowSkip.None);
        Assert.InRange(mirrored, 1, 39);   // all or none at 50 % by chance has odds of 2 in 2^40
    }

    [Fact]
    public async Task Methods_outside_the_list_go_to_production_only()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        var methods = new HashSet<string>(["GET", "HEAD"], StringComparer.Ordinal);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, With(new MirrorPolicy { Methods = methods }));

        await RawHttp.SendAsync(proxy.EndPoint, Get("/read"));
        await RawHttp.SendAsync(proxy.EndPoint, "POST /write HTTP/1.1\r\nHost: shop\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
        await RawHttp.SendAsync(proxy.EndPoint, "DELETE /write/1 HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n");
        await proxy.StopAsync();

        Assert.Equal(3, production.Requests.Count);
        Assert.StartsWith("GET /read ", Assert.Single(shadow.Requests), StringComparison.Ordinal);
        Assert.Equal(
            ["/read:None", "/write/1:MethodFiltered", "/write:MethodFiltered"],
            proxy.Records.Select(record => $"{record.Url}:{record.ShadowSkipped}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_content_length_over_max_body_is_skipped_before_anything_is_sent()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, With(new MirrorPolicy { MaxBody = 10 }));

        await RawHttp.SendAsync(proxy.EndPoint, "POST /small HTTP/1.1\r\nHost: shop\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789");
        await RawHttp.SendAsync(proxy.EndPoint, "POST /large HTTP/1.1\r\nHost: shop\r\nContent-Length: 11\r\nConnection: close\r\n\r\n0123456789A");
        await proxy.StopAsync();

        Assert.Equal(2, production.Requests.Count);
        Assert.Contains("/small", Assert.Single(shadow.Requests), StringComparison.Ordinal);
        Assert.Equal(1, shadow.ConnectionCount);
        Assert.Equal(ShadowSkip.BodyTooLarge, proxy.Records.Single(record => record.Url == "/large").ShadowSkipped);
        Assert.Equal(ShadowSkip.None, proxy.Records.Single(record => record.Url == "/small").ShadowSkipped);
    }

    [Fact]
    public async Task A_chunked_body_that_outgrows_max_body_abandons_the_copy_and_says_body_too_large()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, With(new MirrorPolicy { MaxBody = 64 }));
        string chunk = new('c', 40);
        string body = $"28\r\n{chunk}\r\n28\r\n{chunk}\r\n0\r\n\r\n";

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"POST /stream HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}");
        await proxy.StopAsync();

        Assert.Equal(Ok, response);
        Assert.EndsWith(body, Assert.Single(production.Requests), StringComparison.Ordinal);
        Assert.DoesNotContain(shadow.Requests, request => request.EndsWith("0\r\n\r\n", StringComparison.Ordinal));
        RequestRecord record = Assert.Single(proxy.Records);
        Assert.Equal(ShadowSkip.BodyTooLarge, record.ShadowSkipped);
        Assert.Equal(default, record.Shadow);
        Assert.EndsWith(" - - 200 -", TextRequestLine.Format(record), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Past_max_inflight_the_copy_is_skipped_as_overloaded()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await release.Task;   // holds the first copy in flight until the test has sent the second request
            await connection.SendAsync(Ok);
        });
        var source = new MirrorPolicySource(new MirrorPolicy { MaxInflight = 1 });
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, options => options with { Mirror = source });

        Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, Get("/first")));
        Assert.Equal(1, source.Inflight);
        Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, Get("/second")));
        release.SetResult();
        await proxy.StopAsync();

        Assert.Equal(ShadowSkip.None, proxy.Records.Single(record => record.Url == "/first").ShadowSkipped);
        Assert.Equal(200, proxy.Records.Single(record => record.Url == "/first").Shadow.StatusCode);
        Assert.Equal(ShadowSkip.Overloaded, proxy.Records.Single(record => record.Url == "/second").ShadowSkipped);
        Assert.Single(shadow.Requests);
        Assert.Equal(0, source.Inflight);
    }

    [Fact]
    public async Task An_excluded_path_gets_no_line_in_origin_or_absolute_form_with_or_without_a_query()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            With(new MirrorPolicy { Exclude = new ExcludedPaths(["/health", "/"]) }));

        foreach (string target in new[] { "/health", "/health?probe=1", "http://shop/health", "HTTP://shop:8080/health?probe=1", "http://shop", "http://shop?x=1", "/healthz", "http://shop/healthz" })
        {
            Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, Get(target)));
        }

        await proxy.StopAsync();
        Assert.Equal(8, production.Requests.Count);
        Assert.Equal(8, shadow.Requests.Count);   // excluded requests are still mirrored
        Assert.Equal(["/healthz", "http://shop/healthz"], proxy.Records.Select(record => record.Url).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_shadow_header_replaces_a_field_of_the_same_name_from_the_client_in_the_shadows_copy()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            With(new MirrorPolicy { ShadowHeader = "X-Shadow: 1" }));

        const string request = "GET /mark HTTP/1.1\r\nHost: shop\r\nx-shadow: 0\r\nAccept: */*\r\nX-SHADOW: no\r\nConnection: close\r\n\r\n";
        await RawHttp.SendAsync(proxy.EndPoint, request);
        await proxy.StopAsync();

        Assert.Equal(request, Assert.Single(production.Requests));
        Assert.Equal(
            "GET /mark HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\nConnection: close\r\nX-Shadow: 1\r\n\r\n",
            Assert.Single(shadow.Requests));
    }

    [Fact]
    public async Task Shadow_header_and_host_mark_the_shadows_copy_only()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            With(new MirrorPolicy { ShadowHeader = "X-Shadow: 1", ShadowHost = "shadow.internal:8080" }));

        await RawHttp.SendAsync(proxy.EndPoint, "POST /orders HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
        await proxy.StopAsync();

        Assert.Equal("POST /orders HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", Assert.Single(production.Requests));
        Assert.Equal(
            "POST /orders HTTP/1.1\r\nHost: shadow.internal:8080\r\nAccept: */*\r\nContent-Length: 3\r\nConnection: close\r\nX-Shadow: 1\r\n\r\nabc",
            Assert.Single(shadow.Requests));
    }

    [Theory]
    [InlineData("http://shop/orders?id=7", "http://shadow.internal:8080/orders?id=7")]
    [InlineData("HTTPS://user@shop:443?q", "HTTPS://shadow.internal:8080?q")]
    [InlineData("http://shop", "http://shadow.internal:8080")]
    public async Task Shadow_host_replaces_the_host_of_an_absolute_form_target_too(string target, string shadowTarget)
    {
        // The server takes the host from an absolute-form target, not from Host (RFC 9112 §3.2.2; Kestrel answers the
        // two disagreeing with 400): with Host alone replaced, the shadow's copy would still go to the client's host.
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            With(new MirrorPolicy { ShadowHost = "shadow.internal:8080" }));

        await RawHttp.SendAsync(proxy.EndPoint, $"GET {target} HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n");
        await proxy.StopAsync();

        Assert.Equal($"GET {target} HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n", Assert.Single(production.Requests));
        Assert.Equal($"GET {shadowTarget} HTTP/1.1\r\nHost: shadow.internal:8080\r\nConnection: close\r\n\r\n", Assert.Single(shadow.Requests));
    }
}
