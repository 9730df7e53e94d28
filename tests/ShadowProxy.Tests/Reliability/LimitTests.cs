using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>Each limit on real loopback sockets, set low, with a test that would fail if the limit were not enforced.</summary>
public sealed class LimitTests
{
    private const string Ok = FaultyBackends.ProductionOk;
    private const string Get = "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

    [Fact]
    public async Task Slowloris_clients_dribbling_a_head_are_cut_at_the_client_timeout_while_others_are_served()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { ClientTimeout = TimeSpan.FromSeconds(4) });
        using var stopDribbling = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task<TimeSpan>[] slowloris = [.. Enumerable.Range(0, 32).Select(_ => DribbleHeadAsync(proxy.EndPoint, stopDribbling.Token))];

        // While they dribble, an ordinary client is served at once.
        var watch = Stopwatch.StartNew();
        string response = await RawHttp.SendAsync(proxy.EndPoint, Get);
        TimeSpan served = watch.Elapsed;
        TimeSpan[] cutAfter = await Task.WhenAll(slowloris);

        Assert.Equal(Ok, response);
        Assert.True(served < cutAfter.Min(), $"the ordinary client waited {served}, longer than the slowloris clients were held ({cutAfter.Min()})");
        // Each is cut once its head has taken longer than the client timeout, though it never fell silent for that long.
        Assert.All(cutAfter, after => Assert.InRange(after, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(20)));
        Assert.DoesNotContain(backends.Production.Requests, request => request.Contains("X-Slow", StringComparison.Ordinal));
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_client_dribbling_its_body_is_cut_by_the_production_timeout()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint,
            backends.Shadow.EndPoint,
            options => options with { ClientTimeout = TimeSpan.FromSeconds(1), ProductionTimeout = TimeSpan.FromSeconds(2), ShadowTimeout = TimeSpan.FromSeconds(2) });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(proxy.EndPoint);
        await socket.SendAsync("POST /slow-body HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n"u8.ToArray());
        var watch = Stopwatch.StartNew();

        // One byte every 300 ms: never silent for the client timeout, but the whole exchange is bounded.
        string answer = await DribbleUntilClosedAsync(socket, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(30));
        TimeSpan cutAfter = watch.Elapsed;
        await proxy.WaitForLinesAsync(1);
        await FaultTests.AssertServesOnAsync(proxy);

        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", answer, StringComparison.Ordinal);
        Assert.InRange(cutAfter, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(15));
        Assert.Equal(BackendError.Timeout, proxy.Records[0].Production.Error);
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_steady_upload_longer_than_the_production_timeout_is_answered_not_cut()
    {
        // Production reads the body as it comes and answers at its end: it is busy, not silent, for as long as the
        // upload takes. Here that is about three production timeouts.
        const int Pieces = 30;
        const int PieceBytes = RequestBodyPump.ProgressBytes;
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? head = await connection.ReadHeadAsync();
            if (head is not null)
            {
                string body = await connection.ReadBodyAsync(head);
                await connection.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length}\r\n\r\n{body.Length}");
            }
        });
        production.KeepsRequests = false;
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = TimeSpan.FromSeconds(1) });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);
        var watch = Stopwatch.StartNew();

        await client.SendAsync($"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {Pieces * PieceBytes}\r\nConnection: close\r\n\r\n");
        string piece = new('x', PieceBytes);
        for (int i = 0; i < Pieces; i++)
        {
            await client.SendAsync(piece);
            await Task.Delay(100);
        }

        string answer = await client.ReadResponseAsync();
        TimeSpan took = watch.Elapsed;

        Assert.True(took > TimeSpan.FromSeconds(2), $"the upload should outlast the production timeout, took {took}");
        Assert.Equal($"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{Pieces * PieceBytes}", answer);
    }

    [Fact]
    public async Task A_production_reading_a_large_upload_slowly_but_steadily_is_not_cut_while_the_socket_buffers_drain()
    {
        // The client sends 8 MiB at once; production reads 32 KiB every 20 ms (under 1.6 MB/s: 64 KiB well within the
        // timeout, every time). The proxy's writes are done as soon as the kernel has buffered the bytes, megabytes
        // before production has read them: production is busy with those for longer than its timeout, not silent.
        // (2 s: a backend stalled that long on a loaded test host would be silent indeed.)
        const int BodyBytes = 8 * 1024 * 1024;
        const int PieceBytes = 32 * 1024;
        await using var production = LoopbackBackend.Start(async connection =>
        {
            if (await connection.ReadHeadAsync() is not null)
            {
                for (int read = 0; read < BodyBytes; read += PieceBytes)
                {
                    if (await connection.ReadExactlyAsync(Math.Min(PieceBytes, BodyBytes - read)) is null)
                    {
                        return;
                    }

                    await Task.Delay(20);
                }

                await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nread");
            }
        });
        production.KeepsRequests = false;
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = TimeSpan.FromSeconds(2) });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);
        var watch = Stopwatch.StartNew();

        // Sent while the answer is read: an answer that came before the body's end would otherwise never be read.
        Task sending = client.SendAsync($"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {BodyBytes}\r\nConnection: close\r\n\r\n" + new string('x', BodyBytes));
        string answer = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(30));
        TimeSpan took = watch.Elapsed;
        await sending.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nread", answer);
        Assert.True(took > TimeSpan.FromSeconds(3), $"production should have taken longer than its timeout to read the body, took {took}");
    }

    [Fact]
    public async Task A_production_that_stops_reading_a_large_upload_is_cut_at_its_timeout_and_never_gets_the_rest()
    {
        // The counterpart of the test above: production reads the first MiB and then nothing more. Its kernel stops
        // acknowledging once its receive buffer is full, and from then on production is silent: 504. What production
        // never took does not reach it later (when it reads again: a reset), as it would behind a FIN, a request the
        // client was told had failed.
        const int BodyBytes = 8 * 1024 * 1024;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            if (await connection.ReadHeadAsync() is not null && await connection.ReadExactlyAsync(1024 * 1024) is not null)
            {
                await release.Task.WaitAsync(connection.Stopping);
                try
                {
                    await connection.WaitForCloseAsync();
                    ended.TrySetResult("the rest of the body and a close");
                }
                catch (IOException)
                {
                    ended.TrySetResult("a reset");
                }
            }
        });
        production.KeepsRequests = false;
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = TimeSpan.FromSeconds(1) });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);
        var watch = Stopwatch.StartNew();

        Task sending = client.SendAsync($"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {BodyBytes}\r\nConnection: close\r\n\r\n" + new string('x', BodyBytes));
        string answer = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(30));
        TimeSpan took = watch.Elapsed;
        release.SetResult();
        _ = await Record.ExceptionAsync(() => sending.WaitAsync(TimeSpan.FromSeconds(10)));   // sent whole or refused: either

        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", answer, StringComparison.Ordinal);
        Assert.InRange(took, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        await proxy.WaitForLinesAsync(1);
        Assert.Equal(BackendError.Timeout, proxy.Records[0].Production.Error);
        Assert.Equal("a reset", await ended.Task.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_production_silent_after_taking_a_large_upload_whole_gets_504_after_one_timeout_not_two()
    {
        // Production lets the buffers fill, then reads the whole body at once and says nothing. The proxy's last write
        // left megabytes unacknowledged, all taken a moment later: that is progress, but it was at the moment of the
        // take, not when the timer next looks. Counted from the look, a silent production got 504 up to a whole timeout
        // late (twice --production-timeout of silence).
        const int BodyBytes = 8 * 1024 * 1024;
        var tookAll = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            if (await connection.ReadHeadAsync() is not null)
            {
                await Task.Delay(300);
                if (await connection.ReadExactlyAsync(BodyBytes) is not null)
                {
                    tookAll.TrySetResult(Stopwatch.GetTimestamp());
                    await connection.WaitForCloseAsync();
                }
            }
        });
        production.KeepsRequests = false;
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { ProductionTimeout = TimeSpan.FromSeconds(2) });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        Task sending = client.SendAsync($"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {BodyBytes}\r\nConnection: close\r\n\r\n" + new string('x', BodyBytes));
        string answer = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(30));
        long answered = Stopwatch.GetTimestamp();
        await sending.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", answer, StringComparison.Ordinal);
        TimeSpan silent = Stopwatch.GetElapsedTime(await tookAll.Task.WaitAsync(TimeSpan.FromSeconds(10)), answered);
        Assert.True(silent < TimeSpan.FromSeconds(3), $"504 should come one 2 s timeout after production went silent, came after {silent}");
    }

    [Fact]
    public async Task Past_the_connection_limit_a_client_gets_a_fast_503_and_a_freed_slot_serves_again()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { MaxConnections = 4 });
        var idle = new List<RawConnection>();
        for (int i = 0; i < 4; i++)
        {
            idle.Add(await RawConnection.OpenAsync(proxy.EndPoint));
        }

        await WaitForAsync(() => proxy.Server.ActiveConnections == 4);
        var watch = Stopwatch.StartNew();
        string[] rejected = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => RawHttp.SendAsync(proxy.EndPoint, Get)));
        TimeSpan rejectTime = watch.Elapsed;

        await idle[0].DisposeAsync();
        await WaitForAsync(() => proxy.Server.ActiveConnections < 4);
        string served = await RawHttp.SendAsync(proxy.EndPoint, Get);
        foreach (RawConnection connection in idle.Skip(1))
        {
            await connection.DisposeAsync();
        }

        Assert.All(rejected, response => Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", response, StringComparison.Ordinal));
        Assert.True(rejectTime < TimeSpan.FromSeconds(5), $"503s took {rejectTime}");
        Assert.Equal(Ok, served);
        Assert.Single(backends.Production.Requests);
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_client_past_the_limit_that_never_closes_is_let_go_after_a_short_linger_and_stops_counting()
    {
        // The 503's lingering close reads away what the client sends until it closes, but only for a moment: a turned-
        // away client that keeps its socket open must not keep its place against the limit.
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { MaxConnections = 1 });
        await using var holder = await RawConnection.OpenAsync(proxy.EndPoint);
        await WaitForAsync(() => proxy.Server.ActiveConnections == 1);

        await using var turnedAway = await RawConnection.OpenAsync(proxy.EndPoint);
        await turnedAway.SendAsync(Get);
        string answer = await turnedAway.ReadResponseAsync();
        var watch = Stopwatch.StartNew();
        await WaitForAsync(() => proxy.Server.ActiveConnections == 1);   // the turned-away one no longer counts
        TimeSpan heldFor = watch.Elapsed;

        Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", answer, StringComparison.Ordinal);
        Assert.True(await turnedAway.IsClosedByProxyAsync(TimeSpan.FromSeconds(5)), "the proxy should have closed its side");
        Assert.True(heldFor < TimeSpan.FromSeconds(5), $"a turned-away client was held {heldFor}");
    }

    [Theory]
    [InlineData(32 * 1024, false)]
    [InlineData(1024 * 1024, true)]
    public async Task A_client_past_the_limit_that_keeps_sending_has_at_most_64_KiB_read_away_before_the_close(int sent, bool reset)
    {
        // The 503's lingering close reads away what the client sends, but at most 64 KiB: a turned-away client must not
        // have the proxy read whatever it can send within the 250 ms. Whether the close was a reset tells, without a
        // clock, whether the proxy left bytes unread: half the bound is read away in full (a clean close; it is there
        // long before the 250 ms are up), 16 times the bound is not (the proxy closes over the rest, or the rest
        // arrives after the close: a reset either way). Without the byte bound the 1 MiB, too, is read away in time.
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { MaxConnections = 1 });
        await using var holder = await RawConnection.OpenAsync(proxy.EndPoint);
        await WaitForAsync(() => proxy.Server.ActiveConnections == 1);

        SentWithoutClosing result = await SendWithoutClosingAsync(proxy, othersOpen: 1, Encoding.ASCII.GetBytes(Get), sent);

        Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", result.Answer, StringComparison.Ordinal);
        Assert.True(reset == result.Reset, $"{sent} bytes sent: expected {(reset ? "a reset" : "a clean close")}, got {result}");
    }

    [Theory]
    [InlineData(512 * 1024, false)]
    [InlineData(4 * 1024 * 1024, true)]
    public async Task A_client_answered_431_that_keeps_sending_has_at_most_1_MiB_read_away_before_the_close(int sent, bool reset)
    {
        // The same bound after a 400 or 431 (ProxyConnection's lingering close: 1 s, 1 MiB): an endless head is answered,
        // then half a MiB more is read away in full, but of 4 MiB the proxy leaves the rest unread.
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { MaxRequestHeadBytes = 1024 });

        SentWithoutClosing result = await SendWithoutClosingAsync(proxy, othersOpen: 0, "GET /x HTTP/1.1\r\nHost: h\r\nX-Pad: "u8.ToArray(), sent);

        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", result.Answer, StringComparison.Ordinal);
        Assert.True(reset == result.Reset, $"{sent} bytes sent: expected {(reset ? "a reset" : "a clean close")}, got {result}");
        Assert.Empty(backends.Production.Requests);
    }

    [Fact]
    public async Task A_client_silent_inside_its_body_is_cut_at_the_client_timeout_not_held_until_production_gives_up()
    {
        // Three of ten announced body bytes, then nothing: production waits for the rest, so only the client timeout
        // ends the exchange; without it the connection would stay open for the 60 s production timeout.
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint,
            options => options with { ClientTimeout = TimeSpan.FromSeconds(1), ProductionTimeout = TimeSpan.FromSeconds(60) });
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);
        await client.SendAsync("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");

        var watch = Stopwatch.StartNew();
        Assert.True(await client.IsClosedByProxyAsync(TimeSpan.FromSeconds(15)), "the proxy kept the connection of a silent client open");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"closed after {watch.Elapsed}");
        await proxy.WaitForLinesAsync(1);
        Assert.Equal(BackendError.Aborted, proxy.Records[0].Production.Error);
        await FaultTests.AssertServesOnAsync(proxy);
    }

    [Fact]
    public async Task A_production_response_head_over_the_limit_is_a_502_while_one_under_it_is_relayed()
    {
        string Answer(int headerBytes) => $"HTTP/1.1 200 OK\r\nX-Big: {new string('b', headerBytes)}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        await using var over = LoopbackBackend.Start(Answer(4096));
        await using var under = LoopbackBackend.Start(Answer(512));
        await using var shadow = LoopbackBackend.Start(FaultyBackends.ShadowOk);
        await using var overProxy = await TestProxy.StartAsync(over.EndPoint, shadow.EndPoint, options => options with { MaxResponseHeadBytes = 2048 });
        await using var underProxy = await TestProxy.StartAsync(under.EndPoint, shadow.EndPoint, options => options with { MaxResponseHeadBytes = 2048 });

        string refused = await RawHttp.SendAsync(overProxy.EndPoint, Get);
        string relayed = await RawHttp.SendAsync(underProxy.EndPoint, Get);

        Assert.StartsWith("HTTP/1.1 502 ", refused, StringComparison.Ordinal);
        await overProxy.WaitForLinesAsync(1);
        Assert.Equal(BackendError.InvalidResponse, overProxy.Records[0].Production.Error);
        Assert.Equal(Answer(512), relayed);
    }

    [Fact]
    public async Task A_silent_shadow_does_not_use_up_the_connection_limit_once_clients_have_their_answers()
    {
        // Each client is answered and gone at once, while its request line waits for a shadow that never answers
        // (up to the shadow timeout). Only open client connections count against --max-connections.
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint,
            options => options with { MaxConnections = 2, ShadowTimeout = TimeSpan.FromSeconds(60), DrainTimeout = TimeSpan.FromSeconds(1) });
        string[] answers = new string[6];
        for (int i = 0; i < answers.Length; i++)
        {
            answers[i] = await RawHttp.SendAsync(proxy.EndPoint, $"GET {FaultyBackends.ShadowSilent} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
            await WaitForAsync(() => proxy.Server.ActiveConnections == 0);
        }

        Assert.All(answers, answer => Assert.Equal(Ok, answer));
        Assert.Equal(6, backends.Production.Requests.Count);
        // Copies in flight are bounded by --max-connections as well (each holds a socket the open-file budget counts
        // per client): the first two still wait for the shadow, their lines with them; the other four were not
        // mirrored (overloaded), and their lines are out.
        await WaitForAsync(() => proxy.Records.Count == 4);
        Assert.All(proxy.Records, record => Assert.Equal(Mirroring.ShadowSkip.Overloaded, record.ShadowSkipped));
        await Task.Delay(200);
        Assert.Equal(4, proxy.Records.Count);
    }

    [Fact]
    public async Task A_head_over_the_limit_gets_431_and_is_not_forwarded_while_one_under_it_is()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { MaxRequestHeadBytes = 1024 });
        string Head(int padding) => $"GET /x HTTP/1.1\r\nHost: h\r\nX-Pad: {new string('p', padding)}\r\nConnection: close\r\n\r\n";

        string under = await RawHttp.SendAsync(proxy.EndPoint, Head(900));
        string over = await RawHttp.SendAsync(proxy.EndPoint, Head(1024));
        string endless = await LoadClient.SendGarbageAsync(proxy.EndPoint, Encoding.ASCII.GetBytes("GET /x HTTP/1.1\r\nX-Pad: " + new string('p', 100_000)));
        await proxy.StopAsync();

        Assert.Equal(Ok, under);
        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", over, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", endless, StringComparison.Ordinal);
        Assert.Single(backends.Production.Requests);
        Assert.Single(backends.Shadow.Requests);
    }

    [Fact]
    public async Task A_shadow_that_never_reads_a_large_body_overflows_its_buffer_while_the_client_is_served_at_production_speed()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            await release.Task.WaitAsync(connection.Stopping);   // never reads the body
        });
        await using var proxy = await TestProxy.StartAsync(
            production.EndPoint,
            shadow.EndPoint,
            options => options with { MaxShadowBufferBytes = 256 * 1024, ShadowTimeout = TimeSpan.FromSeconds(60) });
        string body = new('b', 16 * 1024 * 1024);
        var watch = Stopwatch.StartNew();

        string response = await RawHttp.SendAsync(proxy.EndPoint, $"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");
        TimeSpan served = watch.Elapsed;
        await proxy.WaitForLinesAsync(1, TimeSpan.FromSeconds(30));
        release.SetResult();

        Assert.Equal(Ok, response);
        Assert.Equal(body.Length, production.Requests.Single().Length - production.Requests.Single().IndexOf("\r\n\r\n", StringComparison.Ordinal) - 4);
        Assert.Equal(BackendError.Overflow, proxy.Records[0].Shadow.Error);
        Assert.True(served < TimeSpan.FromSeconds(30), $"the client waited {served}: the shadow must not set the pace");
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_shadow_copy_given_up_with_bytes_the_shadow_never_took_ends_in_a_reset_not_a_late_delivery()
    {
        // The shadow reads nothing until the proxy has given the copy up (overflow) and written the line. Closed with a
        // FIN, the copy's unread bytes would wait in the kernel and reach the shadow once it reads again, the whole
        // request seemingly sent and ended: a request acted on after the proxy logged it as failed. A reset ends it.
        var headArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            headArrived.TrySetResult();
            await release.Task.WaitAsync(connection.Stopping);
            try
            {
                await connection.WaitForCloseAsync();
                ended.TrySetResult("the rest of the body and a close");
            }
            catch (IOException)
            {
                ended.TrySetResult("a reset");
            }
        });
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint,
            options => options with { MaxShadowBufferBytes = 256 * 1024 });
        const int BodyBytes = 16 * 1024 * 1024;
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        // The body only once the shadow has the head: an overflow before the copy connected would leave it nothing to see.
        await client.SendAsync($"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {BodyBytes}\r\nConnection: close\r\n\r\n");
        await headArrived.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Task sending = client.SendAsync(new string('b', BodyBytes));
        string response = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(30));
        await sending.WaitAsync(TimeSpan.FromSeconds(10));
        await proxy.WaitForLinesAsync(1, TimeSpan.FromSeconds(30));
        release.SetResult();

        Assert.Equal(Ok, response);
        Assert.Equal(BackendError.Overflow, proxy.Records[0].Shadow.Error);
        Assert.Equal("a reset", await ended.Task.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task An_idle_keep_alive_connection_is_closed_at_the_keep_alive_timeout()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await TestProxy.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, options => options with { KeepAliveTimeout = TimeSpan.FromSeconds(1) });
        await using var connection = await RawConnection.OpenAsync(proxy.EndPoint);

        await connection.SendAsync("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
        string first = await connection.ReadResponseAsync();
        var watch = Stopwatch.StartNew();
        bool closed = await connection.IsClosedByProxyAsync(TimeSpan.FromSeconds(20));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", first, StringComparison.Ordinal);
        Assert.True(closed, "the idle connection should be closed");
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(10));
        await FaultTests.AssertAllClosedAsync(proxy);
    }

    [Fact]
    public async Task A_production_that_never_accepts_gets_the_client_a_504_at_the_connect_timeout()
    {
        using var full = new FullListener();
        await full.FillAsync();
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(
            full.EndPoint, shadow.EndPoint, options => options with { ConnectTimeout = TimeSpan.FromSeconds(1), ProductionTimeout = TimeSpan.FromSeconds(60) });
        var watch = Stopwatch.StartNew();

        string response = await RawHttp.SendAsync(proxy.EndPoint, Get);

        Assert.StartsWith("HTTP/1.1 504 Gateway Timeout\r\n", response, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the connect timeout (1 s), not the production timeout (60 s), should end it: {watch.Elapsed}");
        await proxy.WaitForLinesAsync(1);
        Assert.Equal(BackendError.Timeout, proxy.Records[0].Production.Error);
    }

    [Fact]
    public async Task A_shadow_that_never_accepts_is_timed_out_at_the_connect_timeout()
    {
        using var full = new FullListener();
        await full.FillAsync();
        await using var production = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(
            production.EndPoint, full.EndPoint, options => options with { ConnectTimeout = TimeSpan.FromSeconds(1), ShadowTimeout = TimeSpan.FromSeconds(60) });
        var watch = Stopwatch.StartNew();

        string response = await RawHttp.SendAsync(proxy.EndPoint, Get);
        await proxy.WaitForLinesAsync(1, TimeSpan.FromSeconds(30));

        Assert.Equal(Ok, response);
        Assert.Equal(BackendError.Timeout, proxy.Records[0].Shadow.Error);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the connect timeout (1 s), not the shadow timeout (60 s), should end it: {watch.Elapsed}");
    }

    /// <summary>Sends a head one byte every 100 ms; returns how long until the proxy closed the connection.</summary>
    private static async Task<TimeSpan> DribbleHeadAsync(IPEndPoint endpoint, CancellationToken giveUp)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint, giveUp);
        await socket.SendAsync("GET /slow HTTP/1.1\r\nHost: h\r\nX-Slow: "u8.ToArray(), giveUp);
        var watch = Stopwatch.StartNew();
        await DribbleUntilClosedAsync(socket, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(30));
        return watch.Elapsed;
    }

    /// <summary>
    /// Sends one byte per interval until the proxy closes the connection; returns whatever it answered. On a thread of
    /// its own, with blocking calls: the interval is the point of the test, and a thread-pool timer can fire a second
    /// late in a test process that is starting up (seen: the pool busy, the client silent for the client timeout).
    /// </summary>
    private static Task<string> DribbleUntilClosedAsync(Socket socket, TimeSpan interval, TimeSpan giveUp) =>
        Task.Factory.StartNew(() => DribbleUntilClosed(socket, interval, giveUp), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static string DribbleUntilClosed(Socket socket, TimeSpan interval, TimeSpan giveUp)
    {
        var received = new StringBuilder();
        byte[] buffer = new byte[4096];
        var watch = Stopwatch.StartNew();
        try
        {
            while (watch.Elapsed < giveUp)
            {
                // Waits up to one interval for an answer or the close; if none comes, the next byte goes out.
                if (socket.Poll(interval, SelectMode.SelectRead))
                {
                    int read = socket.Receive(buffer);
                    if (read == 0)
                    {
                        return received.ToString();
                    }

                    received.Append(Encoding.ASCII.GetString(buffer, 0, read));
                    continue;
                }

                socket.Send("a"u8);
            }

            return received.ToString();
        }
        catch (SocketException)
        {
            return received.ToString();   // reset: closed all the same
        }
    }

    /// <summary>
    /// Connects, sends <paramref name="first"/> and then 'p's up to <paramref name="total"/> bytes as fast as the proxy
    /// takes them, never closing; reads the answer, and waits until the proxy has closed its socket (it stops counting
    /// as active: <paramref name="othersOpen"/> are left). Whether that close was a reset is what the client saw: a
    /// failed send or receive, or SO_ERROR.
    /// </summary>
    private static async Task<SentWithoutClosing> SendWithoutClosingAsync(TestProxy proxy, int othersOpen, byte[] first, int total)
    {
        // A small send buffer, so that what the client got to send is about what the proxy's side took in.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { SendBufferSize = 16 * 1024 };
        await socket.ConnectAsync(proxy.EndPoint);
        Task<(long Sent, SocketError Error)> sending = Task.Factory.StartNew(
            () => SendAll(socket, first, total), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        using var received = new MemoryStream();
        SocketError receiveError = SocketError.Success;
        byte[] buffer = new byte[4096];
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            try
            {
                // The answer and the proxy's FIN come at once (its send side is shut before the lingering reads).
                for (int read; (read = await socket.ReceiveAsync(buffer, SocketFlags.None, limit.Token)) > 0;)
                {
                    received.Write(buffer, 0, read);
                }
            }
            catch (SocketException ex)
            {
                receiveError = ex.SocketErrorCode;
            }
        }

        (long sent, SocketError sendError) = await sending.WaitAsync(TimeSpan.FromSeconds(30));
        await WaitForAsync(() => proxy.Server.ActiveConnections == othersOpen);   // the proxy has closed it
        await Task.Delay(100);   // a reset, if any, follows the close at once
        int error = (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
        return new SentWithoutClosing(Encoding.ASCII.GetString(received.ToArray()), sent, sendError, receiveError, error);
    }

    private static (long Sent, SocketError Error) SendAll(Socket socket, byte[] first, int total)
    {
        byte[] filler = new byte[16 * 1024];
        Array.Fill(filler, (byte)'p');
        long sent = 0;
        try
        {
            sent += socket.Send(first);
            while (sent < total)
            {
                sent += socket.Send(filler, 0, (int)Math.Min(filler.Length, total - sent), SocketFlags.None);
            }

            return (sent, SocketError.Success);
        }
        catch (SocketException ex)
        {
            return (sent, ex.SocketErrorCode);
        }
    }

    private sealed record SentWithoutClosing(string Answer, long Sent, SocketError SendError, SocketError ReceiveError, int SocketErrorOption)
    {
        public bool Reset => SendError != SocketError.Success || ReceiveError != SocketError.Success || SocketErrorOption != 0;

        public override string ToString() =>
            $"{Sent} bytes sent, send {SendError}, receive {ReceiveError}, SO_ERROR {SocketErrorOption}, answer {Answer.Split('\r')[0]}";
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "condition not reached");
            await Task.Delay(10);
        }
    }
}
