using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ShadowProxy.Tests.Infrastructure;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Transport;

/// <summary>
/// The loops' listener when accepting itself fails (out of descriptors, or as here a listener shut down). Its failure
/// reports throw on the shared loops on purpose, into the process-wide handler (a framing fuzz run once heard them).
/// </summary>
[Collection(ProcessWideReports.Collection)]
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
            _ => failuresByLoop.AddOrUpdate(Thread.CurrentThread.Name ?? "off a loop", 1, static (_, count) => count + 1),
            _ => { });
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

        await AssertEachLoopPausesBetweenFailuresAsync(failuresByLoop);

        foreach (LoopSocket client in accepted)
        {
            client.Dispose();
        }

        bool EveryLoopFailedThrice() => failuresByLoop.Count(entry => entry.Value >= 3) >= loops;
    }

    [Fact]
    public async Task A_failure_report_that_throws_on_a_loop_still_leaves_that_loop_paused_not_spinning()
    {
        Socket socket = LoopbackSockets.Listen();
        var accepted = new ConcurrentQueue<LoopSocket>();
        var reportsByLoop = new ConcurrentDictionary<string, int>();
        using var listener = new LoopListener(
            socket,
            accepted.Enqueue,
            _ =>
            {
                if (EventLoop.Current is not null)
                {
                    reportsByLoop.AddOrUpdate(Thread.CurrentThread.Name!, 1, static (_, count) => count + 1);
                    throw new InvalidOperationException("a test's report that fails");
                }
            },
            _ => { });
        listener.Start();
        await ConnectAndWaitForAcceptAsync((IPEndPoint)socket.LocalEndPoint!, accepted);

        socket.Shutdown(SocketShutdown.Both);   // every accept now fails (see the first test)
        DateTime deadline = DateTime.UtcNow + Patience;
        while (reportsByLoop.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        await AssertEachLoopPausesBetweenFailuresAsync(reportsByLoop);

        foreach (LoopSocket client in accepted)
        {
            client.Dispose();
        }
    }

    /// <summary>
    /// The tries fail as epoll_ctl out of memory would (a SocketException), or with an exception of another kind (an
    /// InsufficientMemoryException, standing for the OutOfMemoryException growing the loop's slot table could throw):
    /// on the retry timer's thread, one that escaped would end the process (here, the test run).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_loop_that_cannot_put_the_listener_back_in_its_epoll_set_keeps_trying_and_accepts_again_once_it_can(bool notASocketError)
    {
        Socket socket = LoopbackSockets.Listen();
        var accepted = new ConcurrentQueue<LoopSocket>();
        var failures = new ConcurrentQueue<Exception>();
        using var listener = new LoopListener(socket, accepted.Enqueue, failures.Enqueue, _ => { });
        listener.Start();
        await ConnectAndWaitForAcceptAsync((IPEndPoint)socket.LocalEndPoint!, accepted);

        // Every loop pauses on the shut-down listener's failing accept; the next tries to add it back fail (the loops
        // share them: SHADOWPROXY_IO_THREADS).
        const int FailedTries = 4;
        var unexpected = new InsufficientMemoryException("a test's failed try to add the listener back");
        if (notASocketError)
        {
            listener.ReregistrationFailure = () => unexpected;
        }

        listener.ReregistrationsToFail = FailedTries;
        socket.Shutdown(SocketShutdown.Both);
        DateTime deadline = DateTime.UtcNow + Patience;
        while (listener.ReregistrationsToFail > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(
            listener.ReregistrationsToFail == 0,
            $"the loops stopped trying after {FailedTries - listener.ReregistrationsToFail} failed tries to add the listener back ({EventLoops.All.Length} loops)");
        if (notASocketError)
        {
            Assert.Contains(unexpected, failures);   // reported as a failure like the others
        }
        else
        {
            Assert.Contains(failures, failure => failure is SocketException { SocketErrorCode: SocketError.NoBufferSpaceAvailable });
        }

        // Listening again (the condition cleared): the next try succeeds and a new client is served.
        using Socket client = Assert.Single(await ListenAgainAndConnectAsync(socket, clients: 1, accepted, acceptedInAll: 2));
        Assert.True(accepted.Count == 2, "the listener never accepted again once adding it back succeeded");
        LoopSocket server = accepted.Last();
        await client.SendAsync("ping"u8.ToArray());
        byte[] buffer = new byte[16];
        Assert.Equal(4, await server.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
        await server.SendAsync("pong"u8.ToArray(), CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(4, await client.ReceiveAsync(buffer).WaitAsync(Patience));
        Assert.Equal("pong"u8.ToArray(), buffer[..4]);

        foreach (LoopSocket socketAccepted in accepted)
        {
            socketAccepted.Dispose();
        }
    }

    [Fact]
    public async Task A_report_that_throws_on_the_retry_timer_neither_ends_the_process_nor_stops_the_tries()
    {
        Socket socket = LoopbackSockets.Listen();
        var accepted = new ConcurrentQueue<LoopSocket>();
        int throwingReports = 0;
        using var listener = new LoopListener(
            socket,
            accepted.Enqueue,
            _ =>
            {
                // Only off the loops: the failed tries to add the listener back run on the retry timer's thread.
                if (EventLoop.Current is null)
                {
                    Interlocked.Increment(ref throwingReports);
                    throw new InvalidOperationException("a test's report that fails");
                }
            },
            _ => { });
        listener.Start();
        await ConnectAndWaitForAcceptAsync((IPEndPoint)socket.LocalEndPoint!, accepted);

        const int FailedTries = 3;
        listener.ReregistrationsToFail = FailedTries;
        socket.Shutdown(SocketShutdown.Both);
        DateTime deadline = DateTime.UtcNow + Patience;
        // A try is counted off before it fails and is reported: wait for the last report too.
        while ((listener.ReregistrationsToFail > 0 || Volatile.Read(ref throwingReports) < FailedTries) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(0, listener.ReregistrationsToFail);
        Assert.Equal(FailedTries, Volatile.Read(ref throwingReports));   // each try was reported, and the next still came

        using Socket client = Assert.Single(await ListenAgainAndConnectAsync(socket, clients: 1, accepted, acceptedInAll: 2));
        Assert.True(accepted.Count == 2, "the listener never accepted again after its failure reports threw");
        foreach (LoopSocket server in accepted)
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task Disposing_a_listener_whose_loops_are_still_trying_to_add_it_back_stops_the_tries()
    {
        Socket socket = LoopbackSockets.Listen();
        int failuresAfterDispose = 0;
        bool disposed = false;
        var listener = new LoopListener(
            socket,
            accepted => accepted.Dispose(),
            _ =>
            {
                if (Volatile.Read(ref disposed))
                {
                    Interlocked.Increment(ref failuresAfterDispose);
                }
            },
            _ => { });
        listener.Start();

        // Adding the listener back fails for as long as the test runs: each loop keeps trying, one of them at least twice.
        const int Unlimited = int.MaxValue;
        listener.ReregistrationsToFail = Unlimited;
        socket.Shutdown(SocketShutdown.Both);
        int loops = EventLoops.All.Length;
        DateTime deadline = DateTime.UtcNow + Patience;
        while (Unlimited - listener.ReregistrationsToFail <= loops && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(
            Unlimited - listener.ReregistrationsToFail > loops,
            $"no loop tried again after a failed try to add the listener back ({Unlimited - listener.ReregistrationsToFail} tries, {loops} loops)");

        listener.Dispose();
        Volatile.Write(ref disposed, true);
        int triesLeft = listener.ReregistrationsToFail;

        // Longer than the longest wait between tries: a try still scheduled would have run by now.
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        Assert.Equal(triesLeft, listener.ReregistrationsToFail);
        Assert.Equal(0, Volatile.Read(ref failuresAfterDispose));
    }

    [Fact]
    public async Task Accepting_again_after_failures_is_reported_once_with_their_count_not_at_every_accept()
    {
        Socket socket = LoopbackSockets.Listen();
        var accepted = new ConcurrentQueue<LoopSocket>();
        int failures = 0;
        var acceptingAgain = new ConcurrentQueue<int>();
        using var listener = new LoopListener(socket, accepted.Enqueue, _ => Interlocked.Increment(ref failures), acceptingAgain.Enqueue);
        listener.Start();
        await ConnectAndWaitForAcceptAsync((IPEndPoint)socket.LocalEndPoint!, accepted);
        Assert.Empty(acceptingAgain);   // no failure before that accept: nothing to say

        // The shut-down listener's accepts fail (each loop pauses and comes back) until it listens again.
        socket.Shutdown(SocketShutdown.Both);
        DateTime deadline = DateTime.UtcNow + Patience;
        while (Volatile.Read(ref failures) < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(Volatile.Read(ref failures) >= 2, $"the shut-down listener's accepts failed {failures} times, not twice");

        // Listening again: three new clients, one report.
        List<Socket> clients = await ListenAgainAndConnectAsync(socket, clients: 3, accepted, acceptedInAll: 4);
        Assert.Equal(4, accepted.Count);
        int reported = Assert.Single(acceptingAgain);
        Assert.Equal(Volatile.Read(ref failures), reported);

        clients.ForEach(client => client.Dispose());
        foreach (LoopSocket server in accepted)
        {
            server.Dispose();
        }
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
        var listener = new LoopListener(LoopbackSockets.Listen(), accepted.Enqueue, _ => { }, _ => { });
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

    /// <summary>
    /// Makes a shut-down listening socket listen again, connects new clients to it, and waits (up to the patience)
    /// until the listener has accepted this many connections in all. A shut-down listener lost its port (it was bound
    /// to port 0), and Socket caches the old one: the descriptor is asked.
    /// </summary>
    private static async Task<List<Socket>> ListenAgainAndConnectAsync(Socket socket, int clients, ConcurrentQueue<LoopSocket> accepted, int acceptedInAll)
    {
        socket.Listen();
        using var descriptor = new Socket(new SafeSocketHandle(socket.Handle, ownsHandle: false));
        var connected = new List<Socket>(clients);
        for (int i = 0; i < clients; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            connected.Add(client);
            await client.ConnectAsync(descriptor.LocalEndPoint!).WaitAsync(Patience);
        }

        DateTime deadline = DateTime.UtcNow + Patience;
        while (accepted.Count < acceptedInAll && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        return connected;
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

    /// <summary>
    /// Over half a second, each loop that has failed reports at most about one failure per 100 ms. Retried at once,
    /// the failures would be thousands a second; paused, one per 100 ms on each loop.
    /// </summary>
    private static async Task AssertEachLoopPausesBetweenFailuresAsync(ConcurrentDictionary<string, int> failuresByLoop)
    {
        var before = new Dictionary<string, int>(failuresByLoop);
        var watch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var after = new Dictionary<string, int>(failuresByLoop);
        double elapsedMs = watch.Elapsed.TotalMilliseconds;
        int allowed = 2 + (int)(elapsedMs / 100 * 2);
        Assert.NotEmpty(after);
        foreach ((string loop, int count) in after)
        {
            int during = count - before.GetValueOrDefault(loop);
            Assert.True(during <= allowed, $"{loop} failed {during} times in {elapsedMs:F0} ms (at most {allowed}): it did not pause");
        }
    }
}
