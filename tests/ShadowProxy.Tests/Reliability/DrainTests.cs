using System.Diagnostics;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>Stopping the in-process server: requests in flight finish within the drain timeout, and nothing outlasts it.</summary>
public sealed class DrainTests
{
    private const string Ok = FaultyBackends.ProductionOk;

    [Fact]
    public async Task A_request_in_flight_finishes_and_gets_its_line_when_the_proxy_stops()
    {
        await using var production = new HeldProduction();
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.Backend.EndPoint, shadow.EndPoint);
        Task<string> response = RawHttp.SendAsync(proxy.EndPoint, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        await production.Received.WaitAsync(TimeSpan.FromSeconds(20));

        Task stopping = proxy.StopAsync();
        Assert.False(stopping.IsCompleted, "the drain should wait for the request in flight");
        production.Release();
        await stopping.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(Ok, await response);
        Assert.Equal(200, Assert.Single(proxy.Records).Production.StatusCode);
    }

    [Fact]
    public async Task A_request_in_flight_past_the_drain_timeout_is_cut_with_504_and_still_gets_its_line()
    {
        await using var backends = new FaultyBackends();
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.WaitForCloseAsync();   // never answers
        });
        await using var proxy = await TestProxy.StartAsync(
            production.EndPoint, backends.Shadow.EndPoint, options => options with { DrainTimeout = TimeSpan.FromSeconds(1) });
        Task<string> response = RawHttp.SendAsync(proxy.EndPoint, "GET /never HTTP/1.1\r\nHost: h\r\n\r\n");
        await production.WaitForRequestsAsync(1, TimeSpan.FromSeconds(20));
        var watch = Stopwatch.StartNew();

        await proxy.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the drain took {watch.Elapsed} with a 1 s drain timeout");
        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", await response, StringComparison.Ordinal);
        Assert.Equal(BackendError.Timeout, Assert.Single(proxy.Records).Production.Error);
    }

    [Fact]
    public async Task A_silent_shadow_cannot_hold_the_drain_past_the_drain_timeout()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint,
            backends.Shadow.EndPoint,
            options => options with { DrainTimeout = TimeSpan.FromSeconds(1), ShadowTimeout = TimeSpan.FromSeconds(60) });
        string response = await RawHttp.SendAsync(proxy.EndPoint, $"GET {FaultyBackends.ShadowSilent} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        await backends.Shadow.WaitForRequestsAsync(1, TimeSpan.FromSeconds(20));
        var watch = Stopwatch.StartNew();

        // Without a cut at the drain timeout, the line would wait for the shadow timeout (60 s) and so would the stop.
        await proxy.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(Ok, response);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the drain took {watch.Elapsed} with a 1 s drain timeout");
        Assert.Equal(BackendError.Aborted, Assert.Single(proxy.Records).Shadow.Error);   // cut by the drain, not by its own timeout
    }

    [Fact]
    public async Task A_client_that_keeps_its_connection_open_after_its_last_answer_cannot_hold_the_drain_past_the_drain_timeout()
    {
        await using var production = new HeldProduction();
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        // The answer goes out during the stop, so the proxy closes this keep-alive client's connection after it, reading
        // away what the client might still send; a linger far past the drain timeout would hold the stop that long.
        await using var proxy = await TestProxy.StartAsync(
            production.Backend.EndPoint,
            shadow.EndPoint,
            options => options with { DrainTimeout = TimeSpan.FromSeconds(1), LingerTime = TimeSpan.FromSeconds(120) });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);
        await client.SendAsync("GET /last HTTP/1.1\r\nHost: h\r\n\r\n");   // keep-alive, and never closes
        await production.Received.WaitAsync(TimeSpan.FromSeconds(20));
        var watch = Stopwatch.StartNew();

        Task stopping = proxy.StopAsync();
        production.Release();
        string answer = await client.ReadResponseAsync();
        await stopping.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Contains("Connection: close\r\n", answer, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"the stop took {watch.Elapsed} with a 1 s drain timeout and a 120 s linger");
        Assert.True(await client.IsClosedByProxyAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Connections_with_no_request_in_flight_do_not_hold_the_drain()
    {
        await using var backends = new FaultyBackends();
        // Both timeouts far past the bound below: a connection left waiting for a head would hold the stop that long.
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint,
            backends.Shadow.EndPoint,
            options => options with { DrainTimeout = TimeSpan.FromSeconds(20), ClientTimeout = TimeSpan.FromSeconds(30) });
        await using var silent = await RawConnection.OpenAsync(proxy.EndPoint);   // a pre-connect: never sends
        await using var kept = await RawConnection.OpenAsync(proxy.EndPoint);
        await kept.SendAsync("GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
        await kept.ReadResponseAsync();
        await proxy.WaitForLinesAsync(1);
        Assert.Equal(2, proxy.Server.ActiveConnections);
        var watch = Stopwatch.StartNew();

        await proxy.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"nothing was in flight, yet the stop took {watch.Elapsed}");
        Assert.True(await silent.IsClosedByProxyAsync(TimeSpan.FromSeconds(5)));
        Assert.True(await kept.IsClosedByProxyAsync(TimeSpan.FromSeconds(5)));
        Assert.Single(proxy.Records);
    }

    [Fact]
    public async Task A_request_whose_head_has_begun_when_the_proxy_stops_is_answered_with_connection_close()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);
        await client.SendAsync("GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
        await client.ReadResponseAsync();
        await client.SendAsync("POST /two HTTP/1.1\r\nHost: h\r\n");   // the next request, half its head so far
        await backends.Shadow.WaitForRequestsAsync(1, TimeSpan.FromSeconds(20));
        await Task.Delay(200);   // let the half head reach the proxy before the stop (it only has to be there, not read)

        Task stopping = proxy.StopAsync();
        await client.SendAsync("Content-Length: 2\r\n\r\nhi");
        string response = await client.ReadResponseAsync();
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", response);
        Assert.Contains(backends.Production.Requests, request => request.StartsWith("POST /two ", StringComparison.Ordinal) && request.EndsWith("\r\n\r\nhi", StringComparison.Ordinal));
        Assert.Equal(["/one", "/two"], proxy.Records.Select(record => record.Url).Order());
    }

    [Theory]
    [InlineData(30, "30")]
    [InlineData(0.5, "0.5")]
    public void The_stopping_line_gives_the_drain_timeout_in_seconds(double seconds, string shown)
    {
        // As --drain-timeout is given: a TimeSpan would print 00:00:30, or 00:00:00.5000000.
        var diagnostics = new RecordingLogger();
        TimeSpan drainTimeout = TimeSpan.FromSeconds(seconds);

        diagnostics.Draining(drainTimeout, 1);

        Assert.Equal($"Stopping: no new connections; waiting up to {shown} s for 1 in flight", Assert.Single(diagnostics.Information));
    }

    /// <summary>Production that reads one request, says so, and answers it only when released.</summary>
    private sealed class HeldProduction : IAsyncDisposable
    {
        private readonly TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public HeldProduction() => Backend = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            _received.SetResult();
            await _release.Task;
            await connection.SendAsync(Ok);
        });

        public LoopbackBackend Backend { get; }

        public Task Received => _received.Task;

        public void Release() => _release.SetResult();

        public async ValueTask DisposeAsync() => await Backend.DisposeAsync();
    }
}
