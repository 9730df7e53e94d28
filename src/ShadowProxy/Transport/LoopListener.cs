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

    /// <summary>The longest wait between tries to put the listener back in a loop's epoll set.</summary>
    private static readonly TimeSpan LongestRetryDelay = TimeSpan.FromSeconds(1);

    /// <summary>This thread is inside an accept (and whatever the new connection ran inline).</summary>
    [ThreadStatic]
    private static bool t_accepting;

    private readonly Socket _socket;
    private readonly Action<LoopSocket> _accepted;
    private readonly Action<Exception> _failed;
    private readonly Action<int> _acceptingAgain;
    private readonly Lock _gate = new();
    private readonly List<AcceptTarget> _targets = [];
    private volatile bool _closed;
    private int _dispatching;
    private int _failuresSinceAccept;
    private int _reregistrationsToFail;

    /// <param name="socket">Bound and listening.</param>
    /// <param name="accepted">Runs on the accepting loop's thread for each new connection.</param>
    /// <param name="failed">
    /// An accept failed for a reason of the listener's own (descriptors, memory): this loop pauses accepting briefly.
    /// Or a try to add the listener back to a loop's set failed (any exception; not every one is passed on).
    /// </param>
    /// <param name="acceptingAgain">
    /// A connection was accepted after failures, with their count (of every loop, including those not passed to
    /// <paramref name="failed"/>): once per run of failures, not per accept, on the accepting loop's thread.
    /// </param>
    public LoopListener(Socket socket, Action<LoopSocket> accepted, Action<Exception> failed, Action<int> acceptingAgain)
    {
        _socket = socket;
        _socket.Blocking = false;
        _accepted = accepted;
        _failed = failed;
        _acceptingAgain = acceptingAgain;
        // Accepted sockets inherit TCP_NODELAY from the listener: no setsockopt per client.
        _socket.NoDelay = true;
    }

    public EndPoint? LocalEndPoint => _socket.LocalEndPoint;

    /// <summary>
    /// For tests (epoll_ctl cannot be made to fail from outside): this many of the next tries to put a paused
    /// listener back in a loop's epoll set fail, throwing what <see cref="ReregistrationFailure"/> makes. Read only on that path.
    /// </summary>
    internal int ReregistrationsToFail
    {
        get => Volatile.Read(ref _reregistrationsToFail);
        set => Volatile.Write(ref _reregistrationsToFail, value);
    }

    /// <summary>For tests: what a try failed by <see cref="ReregistrationsToFail"/> throws; by default an out-of-memory epoll_ctl's error.</summary>
    internal Func<Exception> ReregistrationFailure { get; set; } = static () => SocketErrors.FromErrno(12);   // ENOMEM

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

    /// <summary>Stops accepting; once this returns no accepted callback is running or will run, nor a try to add the listener back to a loop.</summary>
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
                target.Stop();
            }
        }

        // A loop may be inside an accept that saw the listener open: wait for it. If this thread is itself inside
        // one (the stop came from a connection it started), that one is not waited for: it is this call's caller,
        // and it checks _closed before its next accept.
        Interlocked.MemoryBarrier();   // _closed is seen by an accept that starts after this read of _dispatching
        int ownAccepts = t_accepting ? 1 : 0;
        SpinWait spin = default;
        while (Volatile.Read(ref _dispatching) > ownAccepts)
        {
            spin.SpinOnce();
        }

        _socket.Dispose();
    }

    private void FailIfTestAsks()
    {
        int left = Volatile.Read(ref _reregistrationsToFail);
        while (left > 0)
        {
            int seen = Interlocked.CompareExchange(ref _reregistrationsToFail, left - 1, left);
            if (seen == left)
            {
                throw ReregistrationFailure();
            }

            left = seen;
        }
    }

    /// <summary>Every failure counts toward the next <see cref="_acceptingAgain"/>; only some are reported (see RegisterAgain).</summary>
    private void Failed(Exception error, bool report)
    {
        Interlocked.Increment(ref _failuresSinceAccept);
        if (report)
        {
            _failed(error);
        }
    }

    /// <summary>After each accept: cheap (one read) unless failures came before it, and then said once, by whichever loop takes the count.</summary>
    private void AcceptedAfterAnyFailures()
    {
        if (Volatile.Read(ref _failuresSinceAccept) != 0)
        {
            int failures = Interlocked.Exchange(ref _failuresSinceAccept, 0);
            if (failures > 0)
            {
                _acceptingAgain(failures);
            }
        }
    }

    private sealed class AcceptTarget(LoopListener listener, EventLoop loop) : IEventTarget
    {
        private readonly LoopListener _listener = listener;
        private readonly EventLoop _loop = loop;

        // Changed under the listener's gate only (OnEvents reads _registered on its loop's thread).
        private bool _registered;
        private Timer? _retry;
        private int _failedTries;

        public ulong RegistrationToken { get; set; }

        public void Register()
        {
            _registered = true;   // first: an event right after the add must not be taken for a stale one
            try
            {
                _loop.Register(_listener._socket.SafeHandle, this, Libc.EpollIn | Libc.EpollExclusive);
            }
            catch
            {
                _registered = false;
                throw;
            }
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
            t_accepting = true;
            try
            {
                byte* address = stackalloc byte[SocketAddressCodec.MaxLength];
                for (int i = 0; i < AcceptsPerEvent && !_listener._closed && _registered; i++)
                {
                    int length = SocketAddressCodec.MaxLength;
                    int descriptor = Libc.Accept(_listener._socket.SafeHandle, address, &length, Libc.SocketNonBlocking | Libc.SocketCloseOnExec);
                    if (descriptor < 0)
                    {
                        int error = Marshal.GetLastPInvokeError();
                        if (error == Libc.WouldBlock)
                        {
                            return;
                        }

                        if (IsTheClientsProblem(error))
                        {
                            continue;
                        }

                        Pause(error);
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
                        _listener.Failed(ex, report: true);
                        continue;
                    }

                    try
                    {
                        _listener.AcceptedAfterAnyFailures();
                        _listener._accepted(client);
                    }
                    catch (Exception ex)
                    {
                        client.Dispose();
                        EventLoop.HandlerFailed?.Invoke(ex);
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                // The listener closed under a loop that was about to accept.
            }
            finally
            {
                t_accepting = false;
                Interlocked.Decrement(ref _listener._dispatching);
            }
        }

        /// <summary>
        /// Errors of one pending connection (accept(2): "treat them like EAGAIN by retrying"), not of the listener:
        /// the next connection is accepted at once.
        /// </summary>
        private static bool IsTheClientsProblem(int error) =>
            error is Libc.Interrupted or Libc.ConnectionAborted
                or 64 or 71 or 92 or 95 or 100 or 101 or 112 or 113;   // ENONET EPROTO ENOPROTOOPT EOPNOTSUPP ENETDOWN ENETUNREACH EHOSTDOWN EHOSTUNREACH

        /// <summary>
        /// Out of descriptors or memory (or anything else of the listener's own): it stays readable, so accepting
        /// again at once would spin. This loop steps back for a moment (connections wait in the backlog), says so,
        /// and comes back.
        /// </summary>
        private void Pause(int error)
        {
            lock (_listener._gate)
            {
                Unregister();
                if (!_listener._closed)
                {
                    RegisterAgainAfter(PauseAfterFailure);
                }
            }

            // Said once the pause is set: a report that throws must not leave the loop accepting (and failing) at once again.
            _listener.Failed(SocketErrors.FromErrno(error), report: true);
        }

        /// <summary>Under the listener's gate, so Dispose sees every timer it has to stop.</summary>
        private void RegisterAgainAfter(TimeSpan delay)
        {
            _retry ??= new Timer(static state => ((AcceptTarget)state!).RegisterAgainOnTimer(), this, Timeout.Infinite, Timeout.Infinite);
            _retry.Change(delay, Timeout.InfiniteTimeSpan);
        }

        /// <summary>
        /// A timer thread has no handler above it: an exception escaping there would end the process. RegisterAgain
        /// takes whatever a try throws for a failed try and sets the next one before reporting it, so only a report
        /// that throws gets here: it cannot be said through itself, and EventLoop.HandlerFailed speaks of client
        /// connections. Dropped; the next try is already set.
        /// </summary>
        private void RegisterAgainOnTimer()
        {
            try
            {
                RegisterAgain();
            }
            catch (Exception)
            {
            }
        }

        /// <summary>
        /// Puts the listener back in this loop's set. If that fails too (epoll_ctl out of memory, or at the epoll
        /// watch limit), tries again until it works: with one loop (the default), or connections that wake no other
        /// loop (EPOLLEXCLUSIVE), a loop that gave up would leave the proxy never accepting again.
        /// </summary>
        private void RegisterAgain()
        {
            lock (_listener._gate)
            {
                if (_listener._closed)
                {
                    return;
                }

                try
                {
                    _listener.FailIfTestAsks();
                    Register();
                    _failedTries = 0;
                }
                catch (Exception ex)
                {
                    // Any exception, not only epoll_ctl's SocketException (an OutOfMemoryException growing the loop's
                    // slot table): a failed try like the others, tried again.
                    _failedTries++;
                    RegisterAgainAfter(DelayAfterFailedTries(_failedTries));

                    // Under the gate: Dispose returns after the last report. A failure that lasts is reported about
                    // every 10 s, not at every try.
                    _listener.Failed(ex, report: _failedTries <= 4 || _failedTries % 10 == 0);
                }
            }
        }

        /// <summary>200 ms, 400, 800, then 1 s: back soon after a passing shortage, not trying 10 times a second through a lasting one.</summary>
        private static TimeSpan DelayAfterFailedTries(int failedTries) =>
            TimeSpan.FromMilliseconds(Math.Min(PauseAfterFailure.TotalMilliseconds * (1 << Math.Min(failedTries, 10)), LongestRetryDelay.TotalMilliseconds));

        /// <summary>Under the listener's gate, with the listener closed: no try to add it back runs after this.</summary>
        public void Stop()
        {
            _retry?.Dispose();
            Unregister();
        }
    }
}
