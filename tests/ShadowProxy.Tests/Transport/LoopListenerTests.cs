using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Transport;

/// <summary>The loops' listener when accepting itself fails (out of descriptors, or as here a listener shut down).</summary>
public sealed class LoopListenerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_failing_accept_is_reported_about_every_100_ms_by_each_loop_and_tried_again_not_retried_at_once()
    {
        Socket socket = LoopbackSockets.Listen();
        var accepted = new ConcurrentQueue<LoopSocket>();
        var failuresByLoop = new ConcurrentDictionary<string, int>();
        using var listener = new LoopListener(
            socket,
            accepted.Enqueue,
            _ => failuresByLoop.AddOrUpdate(Thread.CurrentThread.Name ?? "off a loop", 1, static (_, count) => count + 1));
        listener.Start();
        await ConnectAndWaitForAcceptAsync((IPEndPoint)socket.LocalEndPoint!, accepted);

        // A shut-down listener keeps reporting a hang-up and every accept fails (EINVAL): the state a listener out of
        // descriptors is in. The hang-up wakes every loop (SHADOWPROXY_IO_THREADS); each steps back after its failure
        // and comes back to try again on its own, so the bounds below are per loop.
        socket.Shutdown(SocketShutdown.Both);
        int loops = EventLoops.All.Length;
        DateTime deadline = DateTime.UtcNow + Patience;
        while (!EveryLoopFailedThrice() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(EveryLoopFailedThrice(), $"a paused loop never came back to accept again: {Describe(failuresByLoop)} of {loops} loops");

        // Retried at once, the failures would be thousands a second; paused, one per 100 ms on each loop.
        var before = new Dictionary<string, int>(failuresByLoop);
        var watch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var after = new Dictionary<string, int>(failuresByLoop);
        double elapsedMs = watch.Elapsed.TotalMilliseconds;
        int allowed = 2 + (int)(elapsedMs / 100 * 2);
        foreach ((string loop, int count) in after)
        {
            int during = count - before.GetValueOrDefault(loop);
            Assert.True(during <= allowed, $"{loop} failed {during} times in {elapsedMs:F0} ms (at most {allowed})");
        }

        foreach (LoopSocket client in accepted)
        {
            client.Dispose();
        }

        bool EveryLoopFailedThrice() => failuresByLoop.Count(entry => entry.Value >= 3) >= loops;
    }

    private static string Describe(ConcurrentDictionary<string, int> failuresByLoop) =>
        string.Join(", ", failuresByLoop.OrderBy(entry => entry.Key).Select(entry => $"{entry.Key}: {entry.Value}"));

    [Fact]
    public async Task An_accepted_socket_joins_the_epoll_set_only_when_it_first_has_to_wait()
    {
        using AcceptedClient connection = await AcceptClientWithRequestAsync();
        LoopSocket accept = connection.Server;
        Socket client = connection.Client;
        byte[] buffer = new byte[64];
        Assert.Equal(18, await accept.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
        await accept.SendAsync("HTTP/1.1 200 OK\r\n\r\n"u8.ToArray(), CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(0UL, accept.RegistrationToken);   // read what was there, sent what fit: never registered

        // Nothing more to read: this receive has to wait, registers, and is woken by the next bytes.
        ValueTask<int> waiting = accept.ReceiveAsync(buffer, CancellationToken.None);
        Assert.NotEqual(0UL, accept.RegistrationToken);
        await client.SendAsync("next"u8.ToArray());
        Assert.Equal(4, await waiting.AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task A_wait_on_an_accepted_socket_after_it_was_closed_fails_and_leaves_no_slot_behind()
    {
        using AcceptedClient connection = await AcceptClientWithRequestAsync();
        LoopSocket server = connection.Server;
        byte[] buffer = new byte[64];
        Assert.Equal(18, await server.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));   // a short read: drained

        // Closed before its first wait registered it (as when Dispose wins the race with that registration): the wait
        // fails, and the registration it tried must not keep a slot (and the socket) in the loop's table.
        server.Dispose();
        await Assert.ThrowsAsync<SocketException>(async () => await server.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.False(server.Loop.Holds(server));
    }

    /// <summary>A client connected through a started LoopListener, its 18-byte request sent and queued at the accepted socket.</summary>
    private static async Task<AcceptedClient> AcceptClientWithRequestAsync()
    {
        var accepted = new ConcurrentQueue<LoopSocket>();
        var listener = new LoopListener(LoopbackSockets.Listen(), accepted.Enqueue, _ => { });
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var connection = new AcceptedClient(listener, client);
        await client.ConnectAsync(listener.LocalEndPoint!).WaitAsync(Patience);
        await client.SendAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray());
        DateTime deadline = DateTime.UtcNow + Patience;
        LoopSocket? server;
        while (!accepted.TryPeek(out server) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.NotNull(server);
        connection.Server = server;
        await Task.Delay(50);   // the request is queued by now
        return connection;
    }

    private static async Task ConnectAndWaitForAcceptAsync(IPEndPoint endpoint, ConcurrentQueue<LoopSocket> accepted)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(endpoint).WaitAsync(Patience);
        DateTime deadline = DateTime.UtcNow + Patience;
        while (accepted.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Single(accepted);
    }

    private sealed class AcceptedClient(LoopListener listener, Socket client) : IDisposable
    {
        public Socket Client { get; } = client;

        public LoopSocket Server { get; set; } = null!;

        public void Dispose()
        {
            Server?.Dispose();
            Client.Dispose();
            listener.Dispose();
        }
    }
}
