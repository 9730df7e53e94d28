using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ShadowProxy.Transport;

/// <summary>
/// Accepts on a listening socket from every event loop. The socket itself is .NET's (bind and listen errors as
/// before, the bound address); each loop adds it to its epoll set with EPOLLEXCLUSIVE, so a new connection wakes
/// one loop, which accepts it and serves it on its own thread.
/// </summary>
internal sealed unsafe class LoopListener : IDisposable
{
    /// <summary>Accepts taken per wake-up before the loop serves its other events (fairness under a connection storm).</summary>
    private const int AcceptsPerEvent = 64;

    private static readonly TimeSpan PauseAfterFailure = TimeSpan.FromMilliseconds(100);

    private readonly Socket _socket;
    private readonly Action<LoopSocket> _accepted;
    private readonly Action<SocketException> _failed;
    private readonly Lock _gate = new();
    private readonly List<AcceptTarget> _targets = [];
    private volatile bool _closed;
    private int _dispatching;

    /// <param name="socket">Bound and listening.</param>
    /// <param name="accepted">Runs on the accepting loop's thread for each new connection.</param>
    /// <param name="failed">An accept failed for want of descriptors or memory: this loop pauses accepting briefly.</param>
    public LoopListener(Socket socket, Action<LoopSocket> accepted, Action<SocketException> failed)
    {
        _socket = socket;
        _socket.Blocking = false;
        _accepted = accepted;
        _failed = failed;
        // Accepted sockets inherit TCP_NODELAY from the listener: no setsockopt per client.
        _socket.NoDelay = true;
    }

    public EndPoint? LocalEndPoint => _socket.LocalEndPoint;

    public void Start()
    {
        lock (_gate)
        {
            foreach (EventLoop loop in EventLoops.All)
            {
                var target = new AcceptTarget(this, loop);
                _targets.Add(target);
                target.Register();
            }
        }
    }

    /// <summary>Stops accepting; once this returns no accepted callback is running or will run.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            foreach (AcceptTarget target in _targets)
            {
                target.Unregister();
            }
        }

        // A loop may be inside an accept that saw the listener open: wait for it (not on a loop's own thread, where
        // that accept cannot be running: this call is then part of it or of another event).
        Interlocked.MemoryBarrier();   // _closed is seen by an accept that starts after this read of _dispatching
        if (EventLoop.Current is null)
        {
            SpinWait spin = default;
            while (Volatile.Read(ref _dispatching) != 0)
            {
                spin.SpinOnce();
            }
        }

        _socket.Dispose();
    }

    private sealed class AcceptTarget(LoopListener listener, EventLoop loop) : IEventTarget
    {
        private readonly LoopListener _listener = listener;
        private readonly EventLoop _loop = loop;
        private bool _registered;

        public ulong RegistrationToken { get; set; }

        public void Register()
        {
            _loop.Register(_listener._socket.SafeHandle, this, Libc.EpollIn | Libc.EpollExclusive);
            _registered = true;
        }

        public void Unregister()
        {
            if (_registered)
            {
                _registered = false;
                _loop.Remove(_listener._socket.SafeHandle, this);
            }
        }

        public void OnEvents(uint events)
        {
            // Counted: Dispose waits for an accept in progress, so none is served after the stop. Not a lock: loops
            // accept and start their connections side by side.
            Interlocked.Increment(ref _listener._dispatching);
            try
            {
                if (_listener._closed || !_registered)
                {
                    return;
                }

                byte* address = stackalloc byte[SocketAddressCodec.MaxLength];
                for (int i = 0; i < AcceptsPerEvent; i++)
                {
                    int length = SocketAddressCodec.MaxLength;
                    int descriptor = Libc.Accept(_listener._socket.SafeHandle, address, &length, Libc.SocketNonBlocking | Libc.SocketCloseOnExec);
                    if (descriptor < 0)
                    {
                        int error = Marshal.GetLastPInvokeError();
                        if (error is Libc.Interrupted or Libc.ConnectionAborted)
                        {
                            continue;
                        }

                        if (error != Libc.WouldBlock)
                        {
                            Pause(error);
                        }

                        return;
                    }

                    IPEndPoint? remote = SocketAddressCodec.Decode(new ReadOnlySpan<byte>(address, length));
                    LoopSocket client;
                    try
                    {
                        client = LoopSocket.Accepted(descriptor, _loop, remote);
                    }
                    catch (SocketException ex)
                    {
                        _listener._failed(ex);
                        continue;
                    }

                    _listener._accepted(client);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _listener._dispatching);
            }
        }

        /// <summary>
        /// Out of descriptors or memory: the listener stays readable, so accepting again at once would spin. This loop
        /// steps back for a moment (the connection waits in the backlog) and reports it.
        /// </summary>
        private void Pause(int error)
        {
            _listener._failed(SocketErrors.FromErrno(error));
            Unregister();
            _ = Task.Delay(PauseAfterFailure).ContinueWith(
                static (_, state) =>
                {
                    var target = (AcceptTarget)state!;
                    lock (target._listener._gate)
                    {
                        if (!target._listener._closed)
                        {
                            target.Register();
                        }
                    }
                },
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }
}
