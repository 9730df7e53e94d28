using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>The limits as options of the built program: each one reaches the proxy from the command line.</summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessLimitTests
{
    [Fact]
    public async Task Limits_given_on_the_command_line_are_the_ones_enforced()
    {
        await using var backends = new FaultyBackends();
        await using var proxy = await ProxyProcess.StartAsync(
            backends.Production.EndPoint, backends.Shadow.EndPoint, "--max-connections", "2", "--max-head-size", "1024", "--client-timeout", "3");

        // Two silent clients take both places (until the client timeout closes them); a third is refused at once.
        await using var idle1 = await RawConnection.OpenAsync(proxy.EndPoint);
        await using var idle2 = await RawConnection.OpenAsync(proxy.EndPoint);
        string overLimit = await RawHttp.SendAsync(proxy.EndPoint, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        var watch = Stopwatch.StartNew();
        bool idleClosed = await idle1.IsClosedByProxyAsync(TimeSpan.FromSeconds(20));
        TimeSpan idleFor = watch.Elapsed;
        Assert.True(await idle2.IsClosedByProxyAsync(TimeSpan.FromSeconds(20)));
        string tooLarge = await RawHttp.SendAsync(proxy.EndPoint, $"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: {new string('p', 1100)}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 431 ", tooLarge, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 503 ", overLimit, StringComparison.Ordinal);
        Assert.True(idleClosed, "--client-timeout 3 should close a connection that sends nothing");
        Assert.True(idleFor < TimeSpan.FromSeconds(15), $"closed after {idleFor}");
    }

    [Fact]
    public async Task A_client_past_the_limit_whose_request_had_arrived_gets_its_503_and_a_clean_close_not_a_reset()
    {
        // Closing a socket over unread bytes sends a reset. Linux still hands the client the 503 and the end that came
        // first, but the connection is failed (SO_ERROR), and a client on another system may lose the 503 to it.
        await using var backends = new FaultyBackends();
        await using var proxy = await ProxyProcess.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint, "--max-connections", "1");
        await using var holder = await RawConnection.OpenAsync(proxy.EndPoint);
        await holder.SendAsync("GET /holder HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", await holder.ReadResponseAsync(), StringComparison.Ordinal);   // served, so counted

        // Stopped, the proxy cannot accept: the kernel completes the connection and queues the request, so the request
        // is there, unread, when the proxy turns the client away.
        await proxy.SignalAsync("STOP");
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await client.ConnectAsync(proxy.EndPoint);
            await client.SendAsync(Encoding.ASCII.GetBytes("GET /over HTTP/1.1\r\nHost: h\r\n\r\n"));
        }
        finally
        {
            await proxy.SignalAsync("CONT");
        }

        string answer = await RawHttp.ReadToEndAsync(new NetworkStream(client), TimeSpan.FromSeconds(20));
        await Task.Delay(100);   // a reset, if any, follows the close at once

        Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", answer, StringComparison.Ordinal);
        Assert.Equal(0, (int)client.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!);
        Assert.DoesNotContain(backends.Production.Requests, request => request.StartsWith("GET /over", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Clients_past_the_lingering_ones_also_get_their_503_and_a_clean_close_when_their_request_had_arrived()
    {
        // Past 64 lingering rejections a client is closed at once, with no wait for what it still sends; but its request,
        // already there, is read away first, so that the close is a FIN and not a reset over the 503.
        const int Rejected = 64 + 16;
        await using var backends = new FaultyBackends();
        await using var proxy = await ProxyProcess.StartAsync(backends.Production.EndPoint, backends.Shadow.EndPoint, "--max-connections", "1");
        await using var holder = await RawConnection.OpenAsync(proxy.EndPoint);
        await holder.SendAsync("GET /holder HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", await holder.ReadResponseAsync(), StringComparison.Ordinal);

        // All queued with their requests while the proxy is stopped, then accepted in one burst: the first 64 linger
        // (these clients keep their side open), the rest are past them.
        var clients = new List<Socket>();
        await proxy.SignalAsync("STOP");
        try
        {
            for (int i = 0; i < Rejected; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(proxy.EndPoint);
                await client.SendAsync(Encoding.ASCII.GetBytes($"GET /over/{i} HTTP/1.1\r\nHost: h\r\n\r\n"));
            }
        }
        finally
        {
            await proxy.SignalAsync("CONT");
        }

        try
        {
            string[] answers = await Task.WhenAll(clients.Select(client => RawHttp.ReadToEndAsync(new NetworkStream(client), TimeSpan.FromSeconds(20))));
            await Task.Delay(100);   // a reset, if any, follows the close at once

            Assert.All(answers, answer => Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", answer, StringComparison.Ordinal));
            Assert.All(clients, client => Assert.Equal(0, (int)client.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!));
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }
    }

    [Theory]
    [InlineData("--max-connections", "0")]
    [InlineData("--max-head-size", "100")]
    [InlineData("--shadow-buffer", "lots")]
    [InlineData("--client-timeout", "-1")]
    [InlineData("--keep-alive-timeout", "0")]
    [InlineData("--connect-timeout", "soon")]
    [InlineData("--drain-timeout", "1e9")]
    public async Task A_bad_limit_is_one_line_on_stderr_and_exit_2_before_anything_listens(string option, string value)
    {
        (int exitCode, string stdout, string stderr) =
            await ProxyProcess.RunAsync("--shadow", "127.0.0.1:9", "--listen", "127.0.0.1:0", option, value);

        Assert.Equal(2, exitCode);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(option, line, StringComparison.Ordinal);
    }
}
