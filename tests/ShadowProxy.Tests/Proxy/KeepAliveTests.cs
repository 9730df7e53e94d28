using System.Diagnostics;
using ShadowProxy.Mirroring;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

/// <summary>The client side as a complete HTTP/1.1 server: persistent connections, pipelining, interim answers, tunnels.</summary>
public sealed class KeepAliveTests
{
    private const string Ok = FaultyBackends.ProductionOk;

    /// <summary>Answers each request with its own target as the body, as a close-announcing HTTP/1.1 server would.</summary>
    /// <summary>
    /// Reads until the proxy ends the connection (20 s at most): how many bytes came, and how it ended ("closed", or
    /// the socket error, such as ConnectionReset). <paramref name="slowly"/>: a pause after each read, a slow reader.
    /// </summary>
    private static async Task<(long Received, string Ending)> ReadToTheEndAsync(System.Net.Sockets.Socket socket, bool slowly)
    {
        long received = 0;
        byte[] buffer = new byte[64 * 1024];
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            for (int read; (read = await socket.ReceiveAsync(buffer, limit.Token)) > 0;)
            {
                received += read;
                if (slowly)
                {
                    await Task.Delay(1, limit.Token);
                }
            }
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            return (received, ex.SocketErrorCode.ToString());
        }

        return (received, "closed");
    }

    private static LoopbackBackend StartEcho(string extraHeaders = "") => LoopbackBackend.Start(async connection =>
    {
        string? request = await connection.ReadRequestAsync();
        string target = request!.Split(' ')[1];
        await connection.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {target.Length}\r\n{extraHeaders}Connection: close\r\n\r\n{target}");
    });

    [Fact]
    public async Task Requests_on_one_connection_are_each_mirrored_and_logged()
    {
        await using var production = StartEcho("Keep-Alive: timeout=5\r\n");
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        var responses = new List<string>();
        foreach (string path in new[] { "/one", "/two?x=1", "/three" })
        {
            await client.SendAsync($"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
            responses.Add(await client.ReadResponseAsync());
        }

        Assert.False(await client.IsClosedByProxyAsync(TimeSpan.FromMilliseconds(200)));
        await proxy.StopAsync();

        // Production's Connection: close answered the proxy's own request; the client's connection stays open.
        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n/one", responses[0]);
        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n/two?x=1", responses[1]);
        Assert.Equal(3, production.ConnectionCount);
        Assert.Equal(3, shadow.Requests.Count);
        Assert.All(production.Requests, request => Assert.EndsWith("\r\nConnection: close\r\n\r\n", request, StringComparison.Ordinal));
        Assert.Equal(["/one", "/three", "/two?x=1"], proxy.RequestLines.Select(line => line.Split(' ')[0]).Order());
    }

    [Fact]
    public async Task Pipelined_requests_are_answered_in_order()
    {
        await using var production = StartEcho();
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync(
            "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        string[] responses = await ReadThree(client);
        string[] bodies = [.. responses.Select(response => response[(response.LastIndexOf('\n') + 1)..])];
        await proxy.StopAsync();

        Assert.Equal(["/a", "/b", "/c"], bodies);
        Assert.Contains("POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz", production.Requests);
        Assert.Equal(3, proxy.RequestLines.Count);

        static async Task<string[]> ReadThree(RawConnection client) =>
            [await client.ReadResponseAsync(), await client.ReadResponseAsync(), await client.ReadResponseAsync()];
    }

    [Fact]
    public async Task Client_connection_close_is_honoured_and_announced()
    {
        await using var production = StartEcho();
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        string response = await client.ReadResponseAsync();

        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n/bye", response);
        Assert.True(await client.IsClosedByProxyAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Http10_closes_unless_keep_alive_is_asked_for()
    {
        await using var production = StartEcho();
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var plain = await RawConnection.OpenAsync(proxy.EndPoint);
        await using var keepAlive = await RawConnection.OpenAsync(proxy.EndPoint);

        await plain.SendAsync("GET /old HTTP/1.0\r\n\r\n");
        string plainResponse = await plain.ReadResponseAsync();
        await keepAlive.SendAsync("GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        string first = await keepAlive.ReadResponseAsync();
        await keepAlive.SendAsync("GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        string second = await keepAlive.ReadResponseAsync();

        Assert.Contains("\r\nConnection: close\r\n", plainResponse, StringComparison.Ordinal);
        Assert.True(await plain.IsClosedByProxyAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n/k1", first);
        Assert.EndsWith("/k2", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_http10_answer_kept_alive_to_the_client_says_keep_alive()
    {
        // An HTTP/1.0 answer persists only with keep-alive said (RFC 9112 §9.3): without it the client closes after the
        // answer (curl: "HTTP 1.0, assume close after body") though the proxy keeps the connection for the next request.
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? request = await connection.ReadRequestAsync();
            await connection.SendAsync($"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{request?[5..7]}");
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /a1 HTTP/1.1\r\nHost: h\r\n\r\n");
        string first = await client.ReadResponseAsync();
        await client.SendAsync("GET /a2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        string second = await client.ReadResponseAsync();

        Assert.Equal("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\na1", first);
        Assert.Equal("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\na2", second);
    }

    [Fact]
    public async Task Close_delimited_production_response_ends_the_client_connection()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.SendAsync("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");

        Assert.Equal("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", await client.ReadToEndAsync());
    }

    [Fact]
    public async Task A_connection_ended_with_a_request_pipelined_behind_the_answer_closes_after_all_of_it_not_with_a_reset()
    {
        // Found by FramingFuzzTests. A close-delimited answer ends the client's connection while the client has already
        // pipelined its next request. Closing over those unread bytes makes the kernel send a reset at once and drop
        // what of the answer is still queued (RFC 9112 §9.6): the client got a cut answer and ECONNRESET.
        const int BodyBytes = 16 * 1024 * 1024;
        var pipelined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await pipelined.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await connection.SendAsync("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            await connection.SendAsync(new byte[BodyBytes]);   // to the close: no length
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        // A small receive window, read a little at a time: the proxy's last writes still wait in its send buffer when it closes.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveBufferSize = 64 * 1024,
        };
        await socket.ConnectAsync(proxy.EndPoint);

        await socket.SendAsync("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray());
        await production.WaitForRequestsAsync(1);
        await socket.SendAsync("GET /next HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray());
        await Task.Delay(100);   // the second request is in the proxy's socket, unread
        pipelined.SetResult();
        (long received, string ending) = await ReadToTheEndAsync(socket, slowly: true);

        Assert.Equal(("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".Length + BodyBytes, "closed"), (received, ending));
        Assert.DoesNotContain(production.Requests, request => request.StartsWith("GET /next", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_pipelined_just_after_the_proxy_decided_to_close_does_not_reset_the_answer()
    {
        // Found by FramingFuzzTests under load. Without client keep-alive the answer ends the connection; the client did
        // not say close, so it may pipeline its next request at any moment, also just after the proxy has looked for
        // unread bytes and found none. Closing then leaves the socket to answer those bytes with a reset, which drops
        // what of the answer is still queued (RFC 9112 §9.6). Here the request is sent once the proxy has logged the
        // first one, that is, after it decided how to close; the answer still waits in its send buffer (the client has
        // not read yet, with a small receive window).
        const int BodyBytes = 128 * 1024;
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.SendAsync($"HTTP/1.1 200 OK\r\nContent-Length: {BodyBytes}\r\n\r\n");
            await connection.SendAsync(new byte[BodyBytes]);
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, options => options with { ClientKeepAlive = false });
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveBufferSize = 4 * 1024,
        };
        await socket.ConnectAsync(proxy.EndPoint);

        await socket.SendAsync("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray());
        await proxy.WaitForLinesAsync(1);   // written after the answer went out and the close was decided
        await socket.SendAsync("GET /next HTTP/1.1\r\nHost: h\r\n\r\n"u8.ToArray());
        (long received, string ending) = await ReadToTheEndAsync(socket, slowly: false);

        Assert.Equal(($"HTTP/1.1 200 OK\r\nContent-Length: {BodyBytes}\r\nConnection: close\r\n\r\n".Length + BodyBytes, "closed"), (received, ending));
        Assert.DoesNotContain(production.Requests, request => request.StartsWith("GET /next", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Chunked_response_with_trailers_is_relayed_and_the_connection_stays_open()
    {
        const string Chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n";
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadRequestAsync();
            await connection.SendAsync(Chunked.Replace("\r\n\r\n4", "\r\nConnection: close\r\n\r\n4", StringComparison.Ordinal));
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /c1 HTTP/1.1\r\nHost: h\r\n\r\n");
        string first = await client.ReadResponseAsync();
        await client.SendAsync("GET /c2 HTTP/1.1\r\nHost: h\r\n\r\n");
        string second = await client.ReadResponseAsync();

        Assert.Equal(Chunked, first);
        Assert.Equal(Chunked, second);
    }

    [Theory]
    [InlineData("HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nConnection: close\r\n\r\n")]
    [InlineData("GET", "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")]
    [InlineData("GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nConnection: close\r\n\r\n")]
    public async Task Bodiless_responses_end_at_their_head(string method, string response)
    {
        await using var production = LoopbackBackend.Start(response);
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync($"{method} /x HTTP/1.1\r\nHost: h\r\n\r\n");
        string first = await client.ReadResponseAsync(answersHead: method == "HEAD");
        await client.SendAsync($"{method} /y HTTP/1.1\r\nHost: h\r\n\r\n");
        string second = await client.ReadResponseAsync(answersHead: method == "HEAD");

        string expected = response.Replace("Connection: close\r\n", "", StringComparison.Ordinal);
        Assert.Equal(expected, first);
        Assert.Equal(expected, second);
    }

    [Fact]
    public async Task Expect_100_continue_gets_productions_interim_answer_only()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? head = await connection.ReadHeadAsync();
            await connection.SendAsync("HTTP/1.1 100 Continue\r\n\r\n");
            await connection.ReadBodyAsync(5);
            connection.RecordHeadOnly(head!);
            await connection.SendAsync("HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        });
        await using var shadow = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            await connection.SendAsync("HTTP/1.1 100 Continue\r\nX-From: shadow\r\n\r\n");
            await connection.ReadBodyAsync(5);
            await connection.SendAsync("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        });
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        // The body goes only after the interim answer, as a real client does.
        string interim = await client.ReadInterimHeadAsync();
        await client.SendAsync("hello");
        string final = await client.ReadResponseAsync();
        await proxy.StopAsync();

        Assert.Equal("HTTP/1.1 100 Continue\r\n\r\n", interim);
        Assert.Equal("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", final);
        Assert.DoesNotContain("shadow", interim + final, StringComparison.Ordinal);
        Assert.EndsWith(" 201 500", Assert.Single(proxy.RequestLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upgrade_is_tunnelled_to_production_only_and_logged_once()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? head = await connection.ReadHeadAsync();
            connection.RecordHeadOnly(head!);
            await connection.SendAsync("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            string? ping = await connection.ReadExactlyAsync(4);
            await connection.SendAsync("pong:" + ping);
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n");
        string switching = await client.ReadResponseAsync();
        await client.SendAsync("ping");
        string echoed = await client.ReadToEndAsync();
        await proxy.StopAsync();

        Assert.Equal("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", switching);
        Assert.Equal("pong:ping", echoed);
        Assert.Equal("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", Assert.Single(production.Requests));
        Assert.Empty(shadow.Requests);
        Assert.Matches(@"^/ws \d+\.\d{3} - - 101 -$", Assert.Single(proxy.RequestLines));
    }

    [Theory]
    [InlineData("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")]
    [InlineData("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n")]
    public async Task A_tunnel_that_production_declines_tells_the_client_its_connection_closes(string request)
    {
        // Found by FramingFuzzTests. The proxy ends the client's connection after any tunnel request, but passed a
        // declined one's answer on as it was: production's keep-alive (or no Connection field at all) told the client
        // its connection stays, and the request it had pipelined behind was dropped without a word (RFC 9112 §9.6).
        await using var production = LoopbackBackend.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.SendAsync("HTTP/1.1 426 Upgrade Required\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 4\r\n\r\nnope");
            }
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync(request + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
        string? answered = await client.ReadUntilEndedAsync(TimeSpan.FromSeconds(10));
        await proxy.StopAsync();

        Assert.Equal("HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope", answered);
        Assert.Single(production.Requests);
        Assert.Equal(0, shadow.ConnectionCount);
    }

    [Fact]
    public async Task Connect_is_tunnelled_both_ways_to_production_only_and_logged_once()
    {
        // Tunnelled bytes that look like HTTP (and are not text): the proxy must carry them, not parse or mirror them.
        const string FromClient = "GET /inside-the-tunnel HTTP/1.1\r\nHost: x\r\n\r\n\u0000\u00ff";
        const string Greeting = "220 ready\r\n";   // a server-first protocol: sent with the 200, so already in the proxy's buffer
        var tunnelledToProduction = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var production = LoopbackBackend.Start(async connection =>
        {
            string? head = await connection.ReadHeadAsync();
            connection.RecordHeadOnly(head!);
            await connection.SendAsync("HTTP/1.1 200 Connection Established\r\n\r\n" + Greeting);
            string? received = await connection.ReadExactlyAsync(FromClient.Length);
            tunnelledToProduction.SetResult(received);
            await connection.SendAsync("echo:" + received);
            await connection.SendAsync("bye");   // then production closes: the tunnel ends
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n");
        string established = await client.ReadThroughAsync(Greeting);
        await client.SendAsync(FromClient);
        string? fromProduction = await client.ReadUntilEndedAsync(TimeSpan.FromSeconds(10));
        await proxy.WaitForLinesAsync(1);
        await proxy.StopAsync();

        Assert.Equal("HTTP/1.1 200 Connection Established\r\n\r\n" + Greeting, established);
        Assert.Equal(FromClient, await tunnelledToProduction.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("echo:" + FromClient + "bye", fromProduction);
        // No Connection field: the connection becomes the tunnel, which neither close nor keep-alive describes.
        Assert.Equal("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n", Assert.Single(production.Requests));
        Assert.Equal(0, shadow.ConnectionCount);
        // One line: the GET inside the tunnel is not a request of its own.
        Assert.Equal(ShadowSkip.Tunnel, Assert.Single(proxy.Records).ShadowSkipped);
        Assert.Matches(@"^db\.internal:5432 \d+\.\d{3} - - 200 -$", Assert.Single(proxy.RequestLines));
    }

    [Fact]
    public async Task Production_answering_before_the_body_closes_the_client_connection()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            await connection.ReadHeadAsync();
            await connection.SendAsync("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        });
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        await using var client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\npartial");
        string response = await client.ReadResponseAsync();

        Assert.Equal("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", response);
        Assert.True(await client.IsClosedByProxyAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Curl_reuses_one_connection_for_several_urls_and_every_request_is_logged()
    {
        await using var production = StartEcho();
        await using var shadow = StartEcho();
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);
        string baseUrl = $"http://{proxy.EndPoint}";

        var curl = Process.Start(new ProcessStartInfo("curl", ["-sS", "-v", "--http1.1", $"{baseUrl}/c/1", $"{baseUrl}/c/2", $"{baseUrl}/c/3?q=x"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        string output = await curl.StandardOutput.ReadToEndAsync();
        string verbose = await curl.StandardError.ReadToEndAsync();
        await curl.WaitForExitAsync();
        await proxy.StopAsync();

        Assert.Equal(0, curl.ExitCode);
        Assert.Equal("/c/1/c/2/c/3?q=x", output);
        Assert.Contains("Re-using existing connection", verbose, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(3, proxy.RequestLines.Count);
        Assert.Equal(3, shadow.Requests.Count);
    }

    [Fact]
    public async Task Wrk_on_kept_alive_connections_gets_every_request_mirrored_and_logged()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint);

        var wrk = Process.Start(new ProcessStartInfo("wrk", ["-t1", "-c4", "-d2s", $"http://{proxy.EndPoint}/w?x=1"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        string report = await wrk.StandardOutput.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        await proxy.StopAsync();

        Assert.Equal(0, wrk.ExitCode);
        var completed = System.Text.RegularExpressions.Regex.Match(report, @"(\d+) requests in");
        Assert.True(completed.Success, report);
        int requests = int.Parse(completed.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.DoesNotContain("Socket errors", report, StringComparison.Ordinal);
        Assert.True(requests > 50, report);
        // wrk counts what it completed; up to one request per connection may still have been in flight when it stopped.
        Assert.InRange(proxy.RequestLines.Count, requests, requests + 4);
        Assert.Equal(proxy.RequestLines.Count, production.Requests.Count);
        Assert.Equal(proxy.RequestLines.Count, shadow.Requests.Count);
        Assert.True(production.ConnectionCount > 4, "every request still gets its own production connection (Connection: close)");
    }
}
