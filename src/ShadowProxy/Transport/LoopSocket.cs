using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ShadowProxy.Transport;

/// <summary>
/// A non-blocking TCP socket on an <see cref="EventLoop"/>, registered once, edge-triggered. Each direction keeps
/// a readiness flag and an event count: an operation tries the system call only while the socket may be ready, and
/// waits for the next event when it is not. A short read means the kernel's queue is empty (unless the peer has
/// closed), so the next receive waits without asking: no call that is known to fail with EAGAIN, which is where
/// .NET's sockets spend a system call per read and per connect. (TCP urgent data is the exception: a read stops at
/// its mark with bytes still queued, and that connection then waits for its next event or its timeout. HTTP
/// clients do not send it, and it can stall only the connection that sent it.)
/// One receive and one send may be in flight at a time, from any thread.
/// </summary>
internal sealed class LoopSocket : IEventTarget, IDisposable
{
    private const uint ReadEvents = Libc.EpollIn | Libc.EpollReadHangUp | Libc.EpollHangUp | Libc.EpollError;
    private const uint WriteEvents = Libc.EpollOut | Libc.EpollHangUp | Libc.EpollError;
    private const uint RegisteredEvents = Libc.EpollIn | Libc.EpollOut | Libc.EpollReadHangUp | Libc.EpollEdgeTriggered;

    private readonly SocketDescriptor _descriptor;
    private readonly EventLoop _loop;
    private readonly Lock _gate = new();
    private SocketOperation? _receive;   // made on the first wait: many sockets never wait to send, some never to receive
    private SocketOperation? _send;
    private SocketOperation? _receiveWaiting;
    private SocketOperation? _sendWaiting;
    private int _receiveEvents;
    private int _sendEvents;
    private int _receiveCancels;   // CancelReceive calls: one may come while an event retries the receive (see Park)
    private bool _receiveReady;
    private bool _sendReady;
    private bool _peerClosed;
    private bool _sendFailed;   // an error or hang-up event: read by a connect, which then asks SO_ERROR why
    private bool _disposed;
    private bool _noDelay;   // TCP_NODELAY is on (accepted sockets inherit it from the listener)
    private bool _hasSent;
    private int _registered;   // NotRegistered (an accepted socket that has not waited), Registered, or RegistrationFailed
    private const int NotRegistered = 0;
    private const int Registered = 1;
    private const int RegistrationFailed = 2;

    private LoopSocket(SocketDescriptor descriptor, EventLoop loop, bool connected, IPEndPoint? remote)
    {
        _descriptor = descriptor;
        _loop = loop;
        // An accepted client has usually sent its request already: read at once. A connecting socket has nothing
        // to read until its backend answers, and may send only once connected.
        _receiveReady = connected;
        _sendReady = connected;
        RemoteEndPoint = remote;
    }

    public ulong RegistrationToken { get; set; }

    /// <summary>The loop the socket's events come from.</summary>
    internal EventLoop Loop => _loop;

    public IPEndPoint? RemoteEndPoint { get; }

    /// <summary>The descriptor's number (for <see cref="DescriptorHeadroom"/>: how full the table was when it was given).</summary>
    public int DescriptorNumber => _descriptor.Number;

    /// <summary>
    /// Wraps a descriptor that accept4 returned (non-blocking already). It joins the loop's epoll set only when an
    /// operation first has to wait: a close-mode client whose request is already there and whose answer fits the
    /// send buffer never waits, and then costs no epoll_ctl, no first (EPOLLOUT) event, and no removal at close.
    /// </summary>
    public static LoopSocket Accepted(int descriptor, EventLoop loop, IPEndPoint? remote) =>
        new(new SocketDescriptor(descriptor), loop, connected: true, remote) { _noDelay = true };

    /// <summary>
    /// A new socket for a connection to <paramref name="remote"/> (<see cref="ConnectAsync"/>). TCP_NODELAY comes on
    /// before its second send: Nagle holds a small segment only while an earlier one is unacknowledged, so the first
    /// send (most backend requests are one head) goes out at once without the extra system call. Fails as at the
    /// open-file limit when it would leave too few descriptors free (<see cref="DescriptorHeadroom"/>).
    /// </summary>
    public static LoopSocket Open(IPEndPoint remote)
    {
        int family = remote.AddressFamily == AddressFamily.InterNetwork ? Libc.AddressFamilyInet : Libc.AddressFamilyInet6;
        int descriptor = Libc.Socket(family, Libc.SocketStream | Libc.SocketNonBlocking | Libc.SocketCloseOnExec, Libc.ProtocolTcp);
        if (descriptor < 0)
        {
            throw SocketErrors.Last();
        }

        if (DescriptorHeadroom.IsShortForBackend(descriptor))
        {
            // The last descriptors are the runtime's: fail as if the limit had been reached.
            Libc.Close(descriptor);
            throw SocketErrors.FromErrno(Libc.TooManyOpenFiles);
        }

        return new LoopSocket(new SocketDescriptor(descriptor), EventLoops.ForNewSocket(), connected: false, remote);
    }

    /// <param name="streamErrors">Fail as a Stream does (an IOException around the SocketException).</param>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken, bool streamErrors = false)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        int seen = Volatile.Read(ref _receiveEvents);
        if (Volatile.Read(ref _receiveReady))
        {
            int received = TryReceive(buffer.Span, seen, out int error);
            if (received >= 0)
            {
                return new ValueTask<int>(received);
            }

            if (error != Libc.WouldBlock)
            {
                return ValueTask.FromException<int>(SocketErrors.Failure(error, streamErrors));
            }
        }

        SocketOperation operation = _receive ??= new SocketOperation(this, SocketDirection.Receive);
        operation.Prepare(buffer, streamErrors, cancellationToken);
        AttemptOrPark(operation, seen, tryFirst: false);   // tried above, or known not ready
        return new ValueTask<int>(operation, operation.Version);
    }

    /// <summary>
    /// A receive that never waits: the bytes received (0 at the end of the stream), or -1 when there are none yet (a
    /// readiness wait that follows then waits for the next event). Throws on an error.
    /// </summary>
    public int ReceiveIfReady(Span<byte> buffer, bool streamErrors = false)
    {
        int seen = Volatile.Read(ref _receiveEvents);
        if (!Volatile.Read(ref _receiveReady))
        {
            return -1;
        }

        int received = TryReceive(buffer, seen, out int error);
        if (received >= 0 || error == Libc.WouldBlock)
        {
            return received;
        }

        throw SocketErrors.Failure(error, streamErrors);
    }

    /// <summary>
    /// Completes when a receive may find bytes (or the end of the stream): at once unless the socket was drained
    /// since its last event, else on its next event. Nothing is received and no buffer waits, so that a reader with
    /// nothing buffered can wait for a quiet peer without holding memory (a kept-alive client between requests).
    /// </summary>
    public ValueTask WaitReadableAsync(CancellationToken cancellationToken, bool streamErrors = false)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        int seen = Volatile.Read(ref _receiveEvents);
        if (Volatile.Read(ref _receiveReady))
        {
            return ValueTask.CompletedTask;
        }

        SocketOperation operation = _receive ??= new SocketOperation(this, SocketDirection.Receive);
        operation.Prepare(Memory<byte>.Empty, streamErrors, cancellationToken);
        operation.IsReadinessWait = true;
        AttemptOrPark(operation, seen, tryFirst: false);
        return new ValueTask(operation, operation.Version);
    }

    /// <summary>Sends all of the buffer (waiting for room as needed), or fails.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken, bool streamErrors = false)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        int sent = 0;
        int seen = Volatile.Read(ref _sendEvents);
        if (Volatile.Read(ref _sendReady))
        {
            int error = TrySend(buffer.Span, ref sent, seen);
            if (error == 0)
            {
                return ValueTask.CompletedTask;
            }

            if (error != Libc.WouldBlock)
            {
                return ValueTask.FromException(SocketErrors.Failure(error, streamErrors));
            }
        }

        SocketOperation operation = _send ??= new SocketOperation(this, SocketDirection.Send);
        operation.Prepare(MemoryMarshal.AsMemory(buffer[sent..]), streamErrors, cancellationToken);
        AttemptOrPark(operation, seen, tryFirst: false);   // tried above, or known not ready
        return new ValueTask(operation, operation.Version);
    }

    /// <summary>
    /// Takes back a receive that waits for the socket, or that an event is retrying (it fails when it would wait
    /// again): it fails with OperationCanceledException (no token's).
    /// </summary>
    public void CancelReceive()
    {
        SocketOperation? waiting;
        lock (_gate)
        {
            _receiveCancels++;
            (waiting, _receiveWaiting) = (_receiveWaiting, null);
        }

        waiting?.Fail(new OperationCanceledException());
    }

    /// <summary>
    /// Reads away what the peer has sent so far, without waiting, up to <paramref name="maxBytes"/>: a close straight
    /// after then sends a FIN rather than a reset, unless more arrives. For a socket nothing else receives on.
    /// </summary>
    public void DiscardArrived(int maxBytes)
    {
        Span<byte> scratch = stackalloc byte[4096];
        int seen = Volatile.Read(ref _receiveEvents);
        for (int total = 0; total < maxBytes;)
        {
            int received = TryReceive(scratch, seen, out _);
            if (received < scratch.Length)
            {
                return;   // all of it (a short read), the end, or nothing yet (would block) or an error
            }

            total += received;
        }
    }

    /// <summary>The send side is done (FIN); receiving goes on.</summary>
    public void ShutdownSend()
    {
        try
        {
            _ = Libc.Shutdown(_descriptor, Libc.ShutdownWrite);
        }
        catch (ObjectDisposedException)
        {
            // Closed already: nothing left to shut.
        }
    }

    /// <summary>Bytes written that the peer has not acknowledged yet (SIOCOUTQ): what a reset would throw away. 0 if closed.</summary>
    public unsafe int UnacknowledgedBytes()
    {
        try
        {
            int queued = 0;
            return Libc.IoControl(_descriptor, Libc.OutputQueue, &queued) == 0 ? queued : 0;
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Closes with a reset instead of a FIN (SO_LINGER on, zero seconds): the peer sees the connection fail, not end.
    /// For an answer whose only end is the close, a FIN would make a cut one look whole.
    /// </summary>
    public unsafe void Abort()
    {
        try
        {
            int* linger = stackalloc int[2] { 1, 0 };   // struct linger { l_onoff, l_linger }
            _ = Libc.SetOption(_descriptor, Libc.SocketLevel, Libc.SocketLinger, linger, 2 * sizeof(int));
        }
        catch (ObjectDisposedException)
        {
            // Closed already: nothing left to reset.
        }

        Dispose();
    }

    /// <summary>
    /// Nothing to read and not closed by the peer: an idle kept-alive connection that can carry a request. Asks the
    /// kernel (poll), not the flags: a connection closed while idle must not be taken for a live one.
    /// </summary>
    public unsafe bool IsIdleAndOpen()
    {
        bool referenced = false;
        try
        {
            // poll(2) takes the number, not the handle: the reference keeps that number ours during the call.
            _descriptor.DangerousAddRef(ref referenced);
            var poll = new Libc.PollDescriptor { Descriptor = _descriptor.Number, Events = Libc.PollIn | Libc.PollReadHangUp };
            return Libc.Poll(&poll, 1, 0) == 0;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            if (referenced)
            {
                _descriptor.DangerousRelease();
            }
        }
    }

    public void OnEvents(uint events)
    {
        SocketOperation? receiver = null;
        SocketOperation? sender = null;
        lock (_gate)
        {
            if ((events & ReadEvents) != 0)
            {
                _receiveEvents++;
                _receiveReady = true;
                _peerClosed |= (events & (Libc.EpollReadHangUp | Libc.EpollHangUp | Libc.EpollError)) != 0;
                receiver = _receiveWaiting;
                _receiveWaiting = null;
            }

            if ((events & WriteEvents) != 0)
            {
                _sendEvents++;
                _sendReady = true;
                _sendFailed |= (events & (Libc.EpollHangUp | Libc.EpollError)) != 0;
                sender = _sendWaiting;
                _sendWaiting = null;
            }
        }

        if (receiver is not null)
        {
            AttemptOrPark(receiver, Volatile.Read(ref _receiveEvents), tryFirst: true);
        }

        if (sender is not null)
        {
            AttemptOrPark(sender, Volatile.Read(ref _sendEvents), tryFirst: true);
        }
    }

    public void Dispose()
    {
        SocketOperation? receiver;
        SocketOperation? sender;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            (receiver, _receiveWaiting) = (_receiveWaiting, null);
            (sender, _sendWaiting) = (_sendWaiting, null);
        }

        _loop.Release(this);
        _descriptor.Dispose();
        receiver?.Fail(SocketErrors.FromErrno(Libc.BadDescriptor));
        sender?.Fail(SocketErrors.FromErrno(Libc.BadDescriptor));
    }

    /// <summary>A cancellation callback: takes the operation back if it is still waiting.</summary>
    internal void Cancel(SocketOperation operation, CancellationToken token)
    {
        lock (_gate)
        {
            if (operation.CancellationToken != token)
            {
                return;   // a late callback of an earlier operation that used this object: not this one's token
            }

            if (ReferenceEquals(_receiveWaiting, operation))
            {
                _receiveWaiting = null;
            }
            else if (ReferenceEquals(_sendWaiting, operation))
            {
                _sendWaiting = null;
            }
            else
            {
                return;   // completed, or being resumed (which checks the token before it waits again)
            }
        }

        operation.Fail(new OperationCanceledException(token));
    }

    /// <summary>Joins the epoll set before a first wait (an accepted socket); false if the socket cannot be registered.</summary>
    private bool EnsureRegistered()
    {
        int state = Volatile.Read(ref _registered);
        if (state != NotRegistered || (state = Interlocked.CompareExchange(ref _registered, Registered, NotRegistered)) != NotRegistered)
        {
            return state == Registered;   // Park checks a failure that comes while this caller goes on to park
        }

        try
        {
            _loop.Register(_descriptor, this, RegisteredEvents);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Closed meanwhile, or epoll refused it: no event will ever come, so whatever waits in the other direction
            // fails too. Release gives back a slot that Register took before epoll_ctl failed.
            _loop.Release(this);
            SocketOperation? receiver;
            SocketOperation? sender;
            lock (_gate)
            {
                _registered = RegistrationFailed;
                (receiver, _receiveWaiting) = (_receiveWaiting, null);
                (sender, _sendWaiting) = (_sendWaiting, null);
            }

            receiver?.Fail(SocketErrors.FromErrno(Libc.BadDescriptor));
            sender?.Fail(SocketErrors.FromErrno(Libc.BadDescriptor));
            return false;
        }

        lock (_gate)
        {
            if (_disposed)
            {
                _loop.Release(this);   // Dispose ran during the registration and found no slot to give back yet
            }
        }

        return true;
    }

    private void RegisterOrDispose()
    {
        _registered = Registered;
        try
        {
            _loop.Register(_descriptor, this, RegisteredEvents);
        }
        catch
        {
            _descriptor.Dispose();
            throw;
        }
    }

    private unsafe void SetNoDelay()
    {
        int on = 1;
        _noDelay = true;
        _ = Libc.SetOption(_descriptor, Libc.ProtocolTcp, Libc.TcpNoDelay, &on, sizeof(int));
    }

    /// <summary>Whether TCP_NODELAY is on, as the kernel says (for tests and diagnostics).</summary>
    internal unsafe bool HasNoDelay()
    {
        int value = 0;
        int length = sizeof(int);
        return Libc.GetOption(_descriptor, Libc.ProtocolTcp, Libc.TcpNoDelay, &value, &length) == 0 && value != 0;
    }

    /// <summary>Connects the socket <see cref="Open"/> gave to the endpoint it was opened for.</summary>
    public unsafe ValueTask ConnectAsync(CancellationToken cancellationToken)
    {
        IPEndPoint remote = RemoteEndPoint ?? throw new InvalidOperationException("Only a socket from Open connects.");
        byte* address = stackalloc byte[SocketAddressCodec.MaxLength];
        int length = SocketAddressCodec.Encode(remote, new Span<byte>(address, SocketAddressCodec.MaxLength));
        int result = Libc.Connect(_descriptor, address, length);
        int error = result == 0 ? 0 : Marshal.GetLastPInvokeError();
        if (error != 0 && error != Libc.InProgress)
        {
            return ValueTask.FromException(SocketErrors.FromErrno(error));
        }

        // Registered after connect(2): an unconnected socket reports EPOLLHUP, a connecting one nothing until it is
        // connected or refused (and if that has happened already, adding it reports so at once). The event count is
        // read before: an event that comes between the two must count as news, not be waited for again.
        int seen = Volatile.Read(ref _sendEvents);
        RegisterOrDispose();
        if (error == 0)
        {
            _sendReady = true;
            return ValueTask.CompletedTask;
        }

        SocketOperation operation = _send ??= new SocketOperation(this, SocketDirection.Send);
        operation.Prepare(Memory<byte>.Empty, streamErrors: false, cancellationToken);
        operation.IsConnect = true;
        AttemptOrPark(operation, seen, tryFirst: false);
        return new ValueTask(operation, operation.Version);
    }

    /// <returns>Bytes received (0 at the end of the stream), or -1 with the error.</returns>
    private unsafe int TryReceive(Span<byte> buffer, int seen, out int error)
    {
        while (true)
        {
            nint received;
            try
            {
                fixed (byte* bytes = buffer)
                {
                    received = Libc.Receive(_descriptor, bytes, buffer.Length, 0);
                }
            }
            catch (ObjectDisposedException)
            {
                error = Libc.BadDescriptor;   // closed by another thread: fail as a call on a closed descriptor would
                return -1;
            }

            if (received >= 0)
            {
                error = 0;
                if (received < buffer.Length && received > 0)
                {
                    MarkDrained(ref _receiveEvents, ref _receiveReady, seen, keepIfPeerClosed: true);
                }

                return (int)received;
            }

            error = Marshal.GetLastPInvokeError();
            if (error == Libc.Interrupted)
            {
                continue;
            }

            if (error == Libc.WouldBlock)
            {
                MarkDrained(ref _receiveEvents, ref _receiveReady, seen, keepIfPeerClosed: false);
            }

            return -1;
        }
    }

    /// <returns>0 once all is sent, else the error (EAGAIN: the rest must wait).</returns>
    private unsafe int TrySend(ReadOnlySpan<byte> buffer, ref int sent, int seen)
    {
        while (sent < buffer.Length)
        {
            nint written;
            try
            {
                if (_hasSent && !_noDelay)
                {
                    SetNoDelay();
                }

                fixed (byte* bytes = buffer[sent..])
                {
                    written = Libc.Send(_descriptor, bytes, buffer.Length - sent, Libc.NoSignal);
                }
            }
            catch (ObjectDisposedException)
            {
                return Libc.BadDescriptor;
            }

            if (written >= 0)
            {
                sent += (int)written;
                _hasSent = true;
                continue;
            }

            int error = Marshal.GetLastPInvokeError();
            if (error == Libc.Interrupted)
            {
                continue;
            }

            if (error == Libc.WouldBlock)
            {
                MarkDrained(ref _sendEvents, ref _sendReady, seen, keepIfPeerClosed: false);
            }

            return error;
        }

        return 0;
    }

    /// <summary>Clears a readiness flag unless an event came in since the caller looked (then it must try again).</summary>
    private void MarkDrained(ref int events, ref bool ready, int seen, bool keepIfPeerClosed)
    {
        lock (_gate)
        {
            if (events == seen && !(keepIfPeerClosed && _peerClosed))
            {
                ready = false;
            }
        }
    }

    /// <summary>
    /// Tries the operation (unless the caller just did and got EAGAIN) and parks it when the socket is not ready, until
    /// it is settled or parked. <paramref name="seen"/> is its direction's event count read before the last attempt.
    /// </summary>
    private void AttemptOrPark(SocketOperation operation, int seen, bool tryFirst)
    {
        operation.WatchCancellation();
        while (true)
        {
            if (tryFirst && Attempt(operation, seen))
            {
                return;
            }

            ParkResult parked = Park(operation, seen);
            if (parked == ParkResult.Parked || Settled(operation, parked))
            {
                return;
            }

            seen = operation.Direction == SocketDirection.Receive ? Volatile.Read(ref _receiveEvents) : Volatile.Read(ref _sendEvents);
            tryFirst = true;
        }
    }

    /// <summary>One try of a receive, a send (what is left of it) or a connect, or a readiness wait's end; false when it has to wait for an event.</summary>
    private bool Attempt(SocketOperation operation, int seen)
    {
        if (operation.IsConnect)
        {
            SettleConnect(operation);
            return true;
        }

        if (operation.IsReadinessWait)
        {
            operation.Succeed(0);   // an event came since the wait began: the caller's receive finds out what
            return true;
        }

        int error;
        if (operation.Direction == SocketDirection.Receive)
        {
            int received = TryReceive(operation.Buffer.Span, seen, out error);
            if (received >= 0)
            {
                operation.Succeed(received);
                return true;
            }
        }
        else
        {
            int sent = 0;
            error = TrySend(operation.Buffer.Span, ref sent, seen);
            operation.Buffer = operation.Buffer[sent..];
            if (error == 0)
            {
                operation.Succeed(0);
                return true;
            }
        }

        if (error == Libc.WouldBlock)
        {
            return false;
        }

        operation.Fail(SocketErrors.FromErrno(error));
        return true;
    }

    private static bool Settled(SocketOperation operation, ParkResult parked)
    {
        switch (parked)
        {
            case ParkResult.Disposed:
                operation.Fail(SocketErrors.FromErrno(Libc.BadDescriptor));
                return true;
            case ParkResult.Canceled:
                operation.Fail(new OperationCanceledException(operation.CancellationToken));
                return true;
            case ParkResult.TakenBack:
                operation.Fail(new OperationCanceledException());   // as CancelReceive fails a receive it finds waiting
                return true;
            default:
                return false;
        }
    }

    /// <summary>Under the gate: waits for the next event, unless one came in since <paramref name="seen"/> (try again).</summary>
    private ParkResult Park(SocketOperation operation, int seen)
    {
        if (!EnsureRegistered())
        {
            return ParkResult.Disposed;
        }

        lock (_gate)
        {
            if (_disposed || _registered == RegistrationFailed)
            {
                return ParkResult.Disposed;
            }

            // A receive that waited and was taken out by an event to be retried: a CancelReceive meanwhile found
            // nothing waiting, and would be lost if the receive now waited again.
            bool receive = operation.Direction == SocketDirection.Receive;
            if (receive && operation.HasWaited && operation.CancelsWhenParked != _receiveCancels)
            {
                return ParkResult.TakenBack;
            }

            // The flag too, not only the count: a caller on another thread may have read the new count with the old
            // flag (OnEvents sets both under the gate, the fast path reads them without it) and skipped the call.
            if ((receive ? _receiveEvents : _sendEvents) != seen || (receive ? _receiveReady : _sendReady))
            {
                return ParkResult.EventCameIn;
            }

            // Checked here, under the gate, because the cancellation callback may have run before the operation was
            // parked and found nothing to take.
            if (operation.CancellationToken.IsCancellationRequested)
            {
                return ParkResult.Canceled;
            }

            if (receive)
            {
                _receiveReady = false;
                _receiveWaiting = operation;
                operation.HasWaited = true;
                operation.CancelsWhenParked = _receiveCancels;
            }
            else
            {
                _sendReady = false;
                _sendWaiting = operation;
            }

            return ParkResult.Parked;
        }
    }

    /// <summary>An event after connect(2): connected, unless the event said error or hang-up (then SO_ERROR says why).</summary>
    private void SettleConnect(SocketOperation operation)
    {
        int error = Volatile.Read(ref _sendFailed) ? PendingError() : 0;
        if (error == 0)
        {
            operation.Succeed(0);
        }
        else
        {
            operation.Fail(SocketErrors.FromErrno(error));
        }
    }

    /// <summary>SO_ERROR: why a connect failed (0 once connected).</summary>
    private unsafe int PendingError()
    {
        int error = 0;
        int length = sizeof(int);
        try
        {
            return Libc.GetOption(_descriptor, Libc.SocketLevel, Libc.SocketErrorOption, &error, &length) == 0
                ? error
                : Marshal.GetLastPInvokeError();
        }
        catch (ObjectDisposedException)
        {
            return Libc.BadDescriptor;
        }
    }
}
