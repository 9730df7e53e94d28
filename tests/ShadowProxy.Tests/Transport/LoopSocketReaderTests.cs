using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Transport;
using static ShadowProxy.Tests.Transport.LoopbackSockets;

namespace ShadowProxy.Tests.Transport;

/// <summary>
/// The socket's own pipe reader against a .NET socket on loopback, with the PipeReader rules its callers rely on:
/// examined-but-unconsumed bytes make the next read wait for more, a buffer that fills up grows, the end of the
/// stream, CancelPendingRead (on a waiting read and ahead of the next one), a token's cancellation, a reset, and a
/// read with nothing buffered that waits without a buffer (through an empty event, a cancellation in the window
/// before its receive parks, a late cancellation, a token, a reset), and Complete under a waiting read (the read ends,
/// and a buffer a parked receive still holds is never pooled).
/// </summary>
public sealed class LoopSocketReaderTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Bytes_examined_but_not_consumed_stay_and_the_next_read_waits_for_more_then_returns_them_all()
    {
        await using var pair = await ReaderPair.OpenAsync();
        LoopSocketReader reader = pair.Reader;

        await pair.Peer.SendAsync("GET / HT"u8.ToArray());
        ReadResult first = await reader.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal("GET / HT", Text(first.Buffer));
        reader.AdvanceTo(first.Buffer.Start, first.Buffer.End);

        ValueTask<ReadResult> waiting = reader.ReadAsync();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);   // everything was examined: no news until more bytes arrive

        await pair.Peer.SendAsync("TP/1.1\r\n"u8.ToArray());
        ReadResult second = await waiting.AsTask().WaitAsync(Patience);
        Assert.Equal("GET / HTTP/1.1\r\n", Text(second.Buffer));

        // Consuming a part leaves the rest to be returned at once, without a receive.
        reader.AdvanceTo(second.Buffer.GetPosition(4));
        Assert.True(reader.TryRead(out ReadResult rest));
        Assert.Equal("/ HTTP/1.1\r\n", Text(rest.Buffer));
        reader.AdvanceTo(rest.Buffer.End);
        Assert.False(reader.TryRead(out _));
        reader.Complete();
    }

    [Fact]
    public async Task A_message_larger_than_the_buffer_grows_it_and_arrives_whole_and_in_order()
    {
        await using var pair = await ReaderPair.OpenAsync();
        LoopSocketReader reader = pair.Reader;
        byte[] payload = new byte[100_000];
        new Random(3).NextBytes(payload);
        Task sending = pair.Peer.SendAsync(payload);

        // Examine everything, consume nothing, until all of it is there: the caller that needs a long head does this.
        ReadResult result;
        while (true)
        {
            result = await reader.ReadAsync().AsTask().WaitAsync(Patience);
            if (result.Buffer.Length >= payload.Length)
            {
                break;
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }

        await sending;
        Assert.Equal(payload, result.Buffer.ToArray());
        reader.AdvanceTo(result.Buffer.End);
        reader.Complete();
    }

    [Fact]
    public async Task The_end_of_the_stream_comes_with_the_last_bytes_and_stays()
    {
        await using var pair = await ReaderPair.OpenAsync();
        LoopSocketReader reader = pair.Reader;

        await pair.Peer.SendAsync("bye"u8.ToArray());
        pair.Peer.Shutdown(SocketShutdown.Send);
        var received = new StringBuilder();
        ReadResult result;
        do
        {
            result = await reader.ReadAsync().AsTask().WaitAsync(Patience);
            received.Append(Text(result.Buffer));
            reader.AdvanceTo(result.Buffer.End);
        }
        while (!result.IsCompleted);

        Assert.Equal("bye", received.ToString());
        ReadResult after = await reader.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.True(after.IsCompleted);
        Assert.True(after.Buffer.IsEmpty);
        reader.Complete();
    }

    [Fact]
    public async Task CancelPendingRead_ends_a_waiting_read_as_canceled_and_the_reader_goes_on()
    {
        await using var pair = await ReaderPair.OpenAsync();
        LoopSocketReader reader = pair.Reader;

        ValueTask<ReadResult> waiting = reader.ReadAsync();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        reader.CancelPendingRead();
        ReadResult canceled = await waiting.AsTask().WaitAsync(Patience);
        Assert.True(canceled.IsCanceled);
        Assert.False(canceled.IsCompleted);
        reader.AdvanceTo(canceled.Buffer.Start);

        await pair.Peer.SendAsync("after"u8.ToArray());
        await ReadAndConsumeAsync(reader, "after");
        reader.Complete();
    }

    [Fact]
    public async Task CancelPendingRead_with_no_read_waiting_cancels_the_next_one_once()
    {
        await using var pair = await ReaderPair.OpenAsync();
        LoopSocketReader reader = pair.Reader;
        await pair.Peer.SendAsync("data"u8.ToArray());

        reader.CancelPendingRead();
        ReadResult canceled = await reader.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.True(canceled.IsCanceled);
        reader.AdvanceTo(canceled.Buffer.Start);

        await ReadAndConsumeAsync(reader, "data");
        reader.Complete();
    }

    [Fact]
    public async Task A_token_cancelled_while_waiting_throws_and_a_reset_is_an_IOException()
    {
        await using var pair = await ReaderPair.OpenAsync();
        LoopSocketReader reader = pair.Reader;

        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reader.ReadAsync(timeout.Token).AsTask().WaitAsync(Patience));

        ValueTask<ReadResult> waiting = reader.ReadAsync();
        pair.Peer.LingerState = new LingerOption(enable: true, seconds: 0);   // close with RST
        pair.Peer.Close();
        IOException error = await Assert.ThrowsAsync<IOException>(() => waiting.AsTask().WaitAsync(Patience));
        Assert.IsType<SocketException>(error.InnerException);
        reader.Complete();
    }

    [Fact]
    public async Task A_read_with_nothing_buffered_waits_for_a_quiet_peer_without_a_buffer_and_can_be_canceled()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;

        Task<ReadResult> waiting = reader.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        Assert.False(reader.HoldsBuffer, "a kept-alive connection between requests must not hold a buffer");
        reader.CancelPendingRead();
        ReadResult canceled = await waiting.WaitAsync(Patience);
        Assert.True(canceled.IsCanceled);
        reader.AdvanceTo(canceled.Buffer.Start);

        waiting = reader.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.False(reader.HoldsBuffer);
        await pair.Peer.SendAsync("second"u8.ToArray());
        ReadResult second = await waiting.WaitAsync(Patience);
        Assert.Equal("second", Text(second.Buffer));
        Assert.True(reader.HoldsBuffer);
        reader.AdvanceTo(second.Buffer.End);
        Assert.False(reader.HoldsBuffer);

        waiting = reader.ReadAsync().AsTask();
        pair.Peer.Shutdown(SocketShutdown.Send);
        ReadResult end = await waiting.WaitAsync(Patience);
        Assert.True(end.IsCompleted);
        Assert.True(end.Buffer.IsEmpty);
        reader.Complete();
    }

    /// <summary>Runs a posted continuation inline, after an action: stands for a thread that acts in the window.</summary>
    private sealed class Before(Action action) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
            action();
            d(state);
        }
    }

    [Fact]
    public async Task CancelPendingRead_between_a_spurious_readiness_and_the_receive_parking_is_not_lost()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;

        Task<ReadResult> waiting;
        SynchronizationContext? old = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(new Before(reader.CancelPendingRead));
        try
        {
            waiting = reader.ReadAsync().AsTask();
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(old);
        }

        Assert.False(waiting.IsCompleted);
        pair.Socket.OnEvents(Libc.EpollIn);   // a read event with nothing to read (stale edge)
        ReadResult result = await waiting.WaitAsync(Patience);   // lost before: the cancel found nothing to take
        Assert.True(result.IsCanceled);
        reader.Complete();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CancelPendingRead_while_stale_edges_come_is_not_lost(bool parkedOnItsBuffer)
    {
        // Parked on its buffer: the loop takes the receive out to retry it on each event, and one that finds nothing (a
        // stale edge) parks it again; a CancelPendingRead in between found nothing waiting to take, and the read stayed
        // pending (the stop's cancel of a connection with half a head, lost until the client's timeout). Waiting without
        // a buffer: each stale edge ends the readiness wait, the receive that follows finds nothing, and the wait starts
        // again; a CancelPendingRead in between must still end the read.
        for (int i = 0; i < 100; i++)
        {
            await using var pair = await ReaderPair.OpenDrainedAsync();
            LoopSocketReader reader = pair.Reader;
            Task<ReadResult> waiting = parkedOnItsBuffer ? await ParkAReceiveOnItsBufferAsync(pair) : reader.ReadAsync().AsTask();

            using var stop = new ManualResetEventSlim();
            var staleEdges = new Thread(() =>
            {
                while (!stop.IsSet)
                {
                    pair.Socket.OnEvents(Libc.EpollIn);
                }
            });
            staleEdges.Start();
            Thread.SpinWait(Random.Shared.Next(20_000));
            reader.CancelPendingRead();
            Thread.SpinWait(20_000);
            stop.Set();
            staleEdges.Join();

            Assert.Same(waiting, await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(1))));
            Assert.True((await waiting).IsCanceled);
            reader.Complete();
        }
    }

    [Fact]
    public async Task A_spurious_readiness_then_data_returns_the_data()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;
        Task<ReadResult> waiting = reader.ReadAsync().AsTask();
        await Task.Delay(30);
        pair.Socket.OnEvents(Libc.EpollIn);   // an edge with nothing to read (a stale one)
        await Task.Delay(30);
        Assert.False(waiting.IsCompleted);

        // The edge found nothing: the read goes back to waiting without a buffer, as before it, not with one for the
        // rest of what may be a long idle wait.
        Assert.False(reader.HoldsBuffer, "a stale edge must not leave an idle read holding a buffer");
        await pair.Peer.SendAsync("second"u8.ToArray());
        await ConsumeAsync(reader, waiting, "second");
        reader.Complete();
    }

    [Fact]
    public async Task A_token_cancel_on_the_readiness_wait_throws_and_the_next_read_works()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;
        using var cts = new CancellationTokenSource();
        Task<ReadResult> waiting = reader.ReadAsync(cts.Token).AsTask();
        await Task.Delay(30);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Patience));
        Task<ReadResult> next = reader.ReadAsync().AsTask();
        await pair.Peer.SendAsync("x"u8.ToArray());
        await ConsumeAsync(reader, next, "x");
        reader.Complete();
    }

    [Fact]
    public async Task A_first_read_on_an_accepted_client_that_has_sent_nothing_waits_without_a_buffer()
    {
        // An accepted socket is taken to be readable (its client has usually sent its request), so the first read
        // tries a receive at once. A client that connected and is quiet (a browser's pre-connect) makes that receive
        // find nothing: the read must then wait as an idle one does, without holding a buffer for the whole wait.
        using Socket listener = Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        using LoopSocket accepted = AcceptRaw(listener);
        var reader = new LoopSocketReader(accepted, bufferSize: 64, minimumReadSize: 16);

        Task<ReadResult> waiting = reader.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        Assert.False(reader.HoldsBuffer, "a quiet new client must not hold a buffer while the proxy waits for its request");

        await client.SendAsync("GET"u8.ToArray());
        await ConsumeAsync(reader, waiting, "GET");
        reader.Complete();
    }

    [Fact]
    public async Task A_reset_or_dispose_while_waiting_without_a_buffer_fails_the_read()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;
        Task<ReadResult> waiting = reader.ReadAsync().AsTask();
        await Task.Delay(30);
        pair.Peer.LingerState = new LingerOption(enable: true, seconds: 0);
        pair.Peer.Close();
        await Assert.ThrowsAsync<IOException>(() => waiting.WaitAsync(Patience));
        reader.Complete();
    }

    [Fact]
    public async Task A_late_CancelPendingRead_that_takes_the_readiness_wait_leaves_the_read_waiting_without_a_buffer()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;
        Task<ReadResult> waiting = reader.ReadAsync().AsTask();
        await Task.Delay(30);
        pair.Socket.CancelReceive();   // the second half of a CancelPendingRead whose flag an earlier read took
        Assert.False(waiting.IsCompleted);
        Assert.False(reader.HoldsBuffer, "an idle read must go on waiting without a buffer after a late cancel");
        await pair.Peer.SendAsync("x"u8.ToArray());   // still waiting, not lost: the bytes end it
        await ConsumeAsync(reader, waiting, "x");
        reader.Complete();
    }

    [Fact]
    public async Task Complete_while_a_read_waits_without_a_buffer_ends_that_read_when_bytes_come_and_rents_nothing()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;
        Task<ReadResult> waiting = reader.ReadAsync().AsTask();
        Assert.False(waiting.IsCompleted);

        reader.Complete();   // as a connection closing under a read does
        await pair.Peer.SendAsync("late"u8.ToArray());

        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(Patience));
        Assert.False(reader.HoldsBuffer, "a completed reader must not rent a buffer for bytes nobody will read");
    }

    [Fact]
    public async Task Complete_while_a_receive_is_parked_keeps_its_buffer_out_of_the_pool()
    {
        await using var pair = await ReaderPair.OpenDrainedAsync();
        LoopSocketReader reader = pair.Reader;
        Task<ReadResult> waiting = await ParkAReceiveOnItsBufferAsync(pair);

        // The kernel may still write into the parked receive's buffer. Had Complete pooled it, this thread's next
        // rental of that size would get it back (the pool keeps the last array returned on a thread first).
        reader.Complete();
        byte[] rentedNext = ArrayPool<byte>.Shared.Rent(64);
        try
        {
            rentedNext.AsSpan().Clear();
            await pair.Peer.SendAsync("late"u8.ToArray());
            ReadResult result = await waiting.WaitAsync(Patience);

            Assert.True(result.Buffer.IsEmpty);   // nothing is handed to a reader its caller has completed
            Assert.DoesNotContain("late", Encoding.ASCII.GetString(rentedNext), StringComparison.Ordinal);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rentedNext);
        }
    }

    /// <summary>
    /// A read whose receive is parked holding the buffer: part of a message has arrived and was examined, not consumed
    /// (half a head), so the next read must receive more into the buffer that keeps it.
    /// </summary>
    private static async Task<Task<ReadResult>> ParkAReceiveOnItsBufferAsync(ReaderPair pair)
    {
        await pair.Peer.SendAsync("hal"u8.ToArray());
        ReadResult part = await pair.Reader.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal("hal", Text(part.Buffer));
        pair.Reader.AdvanceTo(part.Buffer.Start, part.Buffer.End);
        Task<ReadResult> waiting = pair.Reader.ReadAsync().AsTask();
        Assert.False(waiting.IsCompleted);
        Assert.True(pair.Reader.HoldsBuffer);
        return waiting;
    }

    /// <summary>A read that is not canceled and returns the expected bytes, which are then consumed.</summary>
    private static Task ReadAndConsumeAsync(PipeReader reader, string expected) =>
        ConsumeAsync(reader, reader.ReadAsync().AsTask(), expected);

    /// <summary>The same for a read started earlier (one that had to wait).</summary>
    private static async Task ConsumeAsync(PipeReader reader, Task<ReadResult> reading, string expected)
    {
        ReadResult next = await reading.WaitAsync(Patience);
        Assert.False(next.IsCanceled);
        Assert.Equal(expected, Text(next.Buffer));
        reader.AdvanceTo(next.Buffer.End);
    }

    /// <summary>Accepts one pending connection as the proxy's listener does: its descriptor wrapped by LoopSocket.Accepted.</summary>
    private static LoopSocket AcceptRaw(Socket listener)
    {
        Socket accepted = listener.Accept();
        accepted.Blocking = false;
        int descriptor = (int)accepted.SafeHandle.DangerousGetHandle();
        accepted.SafeHandle.SetHandleAsInvalid();   // the LoopSocket owns the descriptor from here and closes it
        return LoopSocket.Accepted(descriptor, EventLoops.All[0], remote: null);
    }

    /// <summary>A reader on a LoopSocket connected over loopback, and the .NET socket at the other end.</summary>
    private sealed class ReaderPair : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly ConnectedPair _pair;

        private ReaderPair(Socket listener, ConnectedPair pair)
        {
            _listener = listener;
            _pair = pair;
            Reader = new LoopSocketReader(pair.Socket, bufferSize: 64, minimumReadSize: 16);
        }

        public LoopSocketReader Reader { get; }

        public LoopSocket Socket => _pair.Socket;

        public Socket Peer => _pair.Peer;

        public static async Task<ReaderPair> OpenAsync()
        {
            Socket listener = Listen();
            try
            {
                return new ReaderPair(listener, await ConnectAsync(listener));
            }
            catch
            {
                listener.Dispose();
                throw;
            }
        }

        /// <summary>Opened, and one short message read and consumed: the socket is then known to be drained.</summary>
        public static async Task<ReaderPair> OpenDrainedAsync()
        {
            ReaderPair pair = await OpenAsync();
            try
            {
                await pair.Peer.SendAsync("first"u8.ToArray());
                await ReadAndConsumeAsync(pair.Reader, "first");
                return pair;
            }
            catch
            {
                await pair.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _pair.DisposeAsync();
            _listener.Dispose();
        }
    }

    private static string Text(ReadOnlySequence<byte> bytes) => Encoding.ASCII.GetString(bytes);
}
