using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Proxy;
using ShadowProxy.Transport;
using static ShadowProxy.Tests.Transport.LoopbackSockets;

namespace ShadowProxy.Tests.Transport;

/// <summary>
/// The event-loop socket against .NET's own sockets on loopback: readiness kept and cleared correctly (a short read,
/// data with the FIN, data that comes later), back-pressure on send, cancellation, close while waiting, refusal, and
/// an accepted socket that epoll will not take.
/// </summary>
public sealed class LoopSocketTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_short_read_then_later_bytes_then_bytes_with_the_close_are_all_received_and_end_with_zero()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);
        byte[] buffer = new byte[64];

        await pair.Peer.SendAsync("abc"u8.ToArray());
        Assert.Equal("abc", await ReceiveTextAsync(pair.Socket, buffer));

        // The short read told the socket its queue is empty: this receive waits for the next event without asking.
        ValueTask<int> waiting = pair.Socket.ReceiveAsync(buffer, CancellationToken.None);
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        await pair.Peer.SendAsync("later"u8.ToArray());
        Assert.Equal("later", Encoding.ASCII.GetString(buffer, 0, await waiting.AsTask().WaitAsync(Patience)));

        // Data and FIN together: the short read must not make the socket wait for an event that already came.
        await pair.Peer.SendAsync("last"u8.ToArray());
        pair.Peer.Shutdown(SocketShutdown.Send);
        await Task.Delay(50);
        Assert.Equal("last", await ReceiveTextAsync(pair.Socket, buffer));
        Assert.Equal(0, await pair.Socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task A_receive_that_had_to_wait_continues_on_the_event_loop_thread()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);
        byte[] buffer = new byte[8];

        Task<string?> receivedOn = ReceiveThenNameThreadAsync(pair.Socket, buffer);
        await Task.Delay(50);
        Assert.False(receivedOn.IsCompleted);   // parked: no data yet
        await pair.Peer.SendAsync(new byte[] { 42 });

        // Inline on the loop that saw the event, as in the program: no hand-off to a thread-pool worker.
        Assert.StartsWith("ShadowProxy I/O", await receivedOn.WaitAsync(Patience), StringComparison.Ordinal);
        Assert.Equal(42, buffer[0]);
    }

    [Fact]
    public async Task A_send_larger_than_the_socket_buffers_waits_for_the_peer_and_delivers_every_byte_in_order()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);
        byte[] payload = new byte[16 * 1024 * 1024];
        new Random(7).NextBytes(payload);

        ValueTask sending = pair.Socket.SendAsync(payload, CancellationToken.None);
        await Task.Delay(50);
        Assert.False(sending.IsCompleted);   // the peer reads nothing yet: the send had to wait for room

        byte[] received = new byte[payload.Length];
        int total = 0;
        while (total < received.Length)
        {
            int read = await pair.Peer.ReceiveAsync(received.AsMemory(total));
            Assert.NotEqual(0, read);
            total += read;
        }

        await sending.AsTask().WaitAsync(Patience);
        Assert.True(payload.AsSpan().SequenceEqual(received));
    }

    [Fact]
    public async Task A_cancelled_receive_fails_with_cancellation_and_the_socket_goes_on_working()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);
        byte[] buffer = new byte[64];
        using var cancel = new CancellationTokenSource();

        ValueTask<int> waiting = pair.Socket.ReceiveAsync(buffer, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.AsTask().WaitAsync(Patience));

        await pair.Peer.SendAsync("still here"u8.ToArray());
        Assert.Equal("still here", await ReceiveTextAsync(pair.Socket, buffer));
    }

    [Fact]
    public async Task Closing_a_socket_with_a_receive_waiting_fails_that_receive()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);

        ValueTask<int> waiting = pair.Socket.ReceiveAsync(new byte[64], CancellationToken.None);
        pair.Socket.Dispose();

        SocketException error = await Assert.ThrowsAsync<SocketException>(() => waiting.AsTask().WaitAsync(Patience));
        Assert.Equal(SocketError.OperationAborted, error.SocketErrorCode);
    }

    [Fact]
    public async Task An_IPv6_backend_is_connected_to_and_carries_bytes_both_ways()
    {
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        listener.Listen();
        await using var pair = await ConnectAsync(listener);
        byte[] buffer = new byte[16];

        await pair.Socket.SendAsync("ping"u8.ToArray(), CancellationToken.None);
        Assert.Equal(4, await pair.Peer.ReceiveAsync(buffer));
        await pair.Peer.SendAsync("pong"u8.ToArray());
        Assert.Equal("pong", await ReceiveTextAsync(pair.Socket, buffer));
        Assert.Equal(((IPEndPoint)pair.Peer.LocalEndPoint!).Port, pair.Socket.RemoteEndPoint!.Port);
    }

    [Fact]
    public async Task A_reset_fails_both_a_waiting_receive_and_a_waiting_send()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);
        ValueTask<int> receiving = pair.Socket.ReceiveAsync(new byte[64], CancellationToken.None);
        ValueTask sending = pair.Socket.SendAsync(new byte[16 * 1024 * 1024], CancellationToken.None);
        await Task.Delay(50);
        Assert.False(receiving.IsCompleted);
        Assert.False(sending.IsCompleted);   // the peer reads nothing: the send is waiting for room

        pair.Peer.LingerState = new LingerOption(enable: true, seconds: 0);
        pair.Peer.Close();

        await Assert.ThrowsAsync<SocketException>(() => receiving.AsTask().WaitAsync(Patience));
        await Assert.ThrowsAsync<SocketException>(() => sending.AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task An_accepted_socket_that_epoll_refuses_fails_its_wait_and_then_a_wait_in_the_other_direction()
    {
        // An accepted socket joins the epoll set only when it first has to wait. If epoll refuses it there (here:
        // EEXIST, the descriptor put in the set beforehand), no event will ever come: the wait must fail at once, and
        // so must a later wait in the other direction, instead of hanging until a timeout.
        using var listener = Listen();
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        LoopSocket socket = AcceptRaw(listener, out int descriptor);
        var sameDescriptor = new SafeSocketHandle(descriptor, ownsHandle: false);
        var squatter = new Squatter();
        socket.Loop.Register(sameDescriptor, squatter, Libc.EpollIn);
        try
        {
            ValueTask<int> receiving = socket.ReceiveAsync(new byte[64], CancellationToken.None);   // nothing sent: must wait
            await Assert.ThrowsAsync<SocketException>(() => receiving.AsTask().WaitAsync(Patience));

            ValueTask sending = socket.SendAsync(new byte[16 * 1024 * 1024], CancellationToken.None);   // the peer reads nothing
            await Assert.ThrowsAsync<SocketException>(() => sending.AsTask().WaitAsync(Patience));
            Assert.False(socket.Loop.Holds(socket), "a socket epoll refused must not keep a slot in the loop");
        }
        finally
        {
            socket.Loop.Remove(sameDescriptor, squatter);
            socket.Dispose();
        }
    }

    [Fact]
    public async Task Operations_racing_a_close_from_other_threads_always_complete()
    {
        using var listener = Listen();
        for (int i = 0; i < 300; i++)
        {
            await using var pair = await ConnectAsync(listener);
            byte[] buffer = new byte[16];
            Task<int> receiving = Task.Run(async () => await pair.Socket.ReceiveAsync(buffer, CancellationToken.None));
            Task peerSends = Task.Run(() => pair.Peer.SendAsync(new byte[] { 1 }));
            Task closing = Task.Run(pair.Socket.Dispose);

            // Data, or the close's failure, but an answer either way: a lost wake-up would hang here.
            Task settled = await Task.WhenAny(receiving, Task.Delay(Patience));
            Assert.Same(receiving, settled);
            await Task.WhenAll(peerSends, closing);
        }
    }

    [Fact]
    public async Task Connecting_where_nothing_listens_is_refused_and_classified_so()
    {
        IPEndPoint closed;
        using (var reserved = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            reserved.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closed = (IPEndPoint)reserved.LocalEndPoint!;
        }

        SocketException error = await Assert.ThrowsAsync<SocketException>(() => ConnectAsync(closed).AsTask());
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(BackendError.Refused, BackendFailure.Classify(error, timedOut: false));
    }

    /// <summary>socket() for a backend failing with EMFILE or ENFILE: no connection could be made, the backend is not at fault mid-exchange.</summary>
    [Theory]
    [InlineData(23)]   // ENFILE
    [InlineData(24)]   // EMFILE
    public void Out_of_descriptors_for_a_backend_connection_is_classified_refused(int errno)
    {
        SocketException error = SocketErrors.FromErrno(errno);
        Assert.Equal(BackendError.Refused, BackendFailure.Classify(error, timedOut: false));
        Assert.Equal(BackendError.Refused, BackendFailure.Classify(SocketErrors.StreamFailure(error), timedOut: false));
    }

    [Fact]
    public async Task An_idle_connection_looks_open_until_the_peer_closes_it()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);
        Assert.True(pair.Socket.IsIdleAndOpen());

        pair.Peer.Close();
        DateTime deadline = DateTime.UtcNow + Patience;
        while (pair.Socket.IsIdleAndOpen() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.False(pair.Socket.IsIdleAndOpen());
    }

    [Fact]
    public async Task The_stream_reports_a_reset_as_an_IOException_around_the_socket_error()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);
        using var stream = new LoopSocketStream(pair.Socket);

        pair.Peer.LingerState = new LingerOption(enable: true, seconds: 0);   // close with RST
        pair.Peer.Close();
        await Task.Delay(50);

        IOException error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            for (int i = 0; i < 100; i++)
            {
                await stream.WriteAsync(new byte[1024]);
                await Task.Delay(5);
            }
        });
        Assert.IsType<SocketException>(error.InnerException);
    }

    [Fact]
    public async Task A_backend_socket_turns_Nagle_off_before_its_second_send_and_not_for_the_first()
    {
        using var listener = Listen();
        await using var pair = await ConnectAsync(listener);

        await pair.Socket.SendAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray(), CancellationToken.None);
        Assert.False(pair.Socket.HasNoDelay());   // one send, nothing unacknowledged before it: no system call spent

        await pair.Socket.SendAsync("more"u8.ToArray(), CancellationToken.None);
        Assert.True(pair.Socket.HasNoDelay());    // a second piece must not wait for the first one's ACK

        byte[] received = new byte[64];
        int total = 0;
        while (total < 22)
        {
            total += await pair.Peer.ReceiveAsync(received.AsMemory(total));
        }

        Assert.Equal("GET / HTTP/1.1\r\n\r\nmore", Encoding.ASCII.GetString(received, 0, total));
    }

    [Fact]
    public async Task Discarding_what_has_arrived_stops_at_its_bound_and_leaves_the_rest_to_be_read()
    {
        // A refused client's request is read away before the close (so that the close is not a reset over its 503),
        // but only so much: a client sending without end must not keep the accepting thread.
        using var listener = Listen();
        using LoopSocket sender = await ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        using LoopSocket receiver = AcceptRaw(listener, out _);
        const int Block = 4096;
        byte[] sent = new byte[24 * Block];   // 96 KiB, within the receive queue's first window
        for (int block = 0; block < 24; block++)
        {
            sent.AsSpan(block * Block, Block).Fill((byte)block);
        }

        await sender.SendAsync(sent, CancellationToken.None).AsTask().WaitAsync(Patience);
        using (var deadline = new CancellationTokenSource(Patience))
        {
            while (sender.UnacknowledgedBytes() > 0)
            {
                await Task.Delay(10, deadline.Token);   // until all of it is in the receiver's queue
            }
        }

        receiver.DiscardArrived(16 * Block);

        byte[] next = new byte[Block];
        Assert.Equal(Block, await receiver.ReceiveAsync(next, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Equal(16, next[0]);   // blocks 0-15 gone, 16 is next
        Assert.Equal(16, next[^1]);
    }

    private static async Task<string> ReceiveTextAsync(LoopSocket socket, byte[] buffer) =>
        Encoding.ASCII.GetString(buffer, 0, await socket.ReceiveAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Patience));

    private static async Task<string?> ReceiveThenNameThreadAsync(LoopSocket socket, byte[] buffer)
    {
        await socket.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
        return Thread.CurrentThread.Name;
    }

    /// <summary>Accepts one pending connection and hands its descriptor to a LoopSocket, as the proxy's listener does.</summary>
    private static LoopSocket AcceptRaw(Socket listener, out int descriptor)
    {
        Socket accepted = listener.Accept();
        accepted.Blocking = false;
        descriptor = (int)accepted.SafeHandle.DangerousGetHandle();
        accepted.SafeHandle.SetHandleAsInvalid();   // the LoopSocket owns the descriptor from here and closes it
        return LoopSocket.Accepted(descriptor, EventLoops.All[0], remote: null);
    }

    /// <summary>Holds the descriptor's place in the epoll set; never expects an event.</summary>
    private sealed class Squatter : IEventTarget
    {
        public ulong RegistrationToken { get; set; }

        public void OnEvents(uint events)
        {
        }
    }
}
