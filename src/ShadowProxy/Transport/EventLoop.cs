using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ShadowProxy.Transport;

/// <summary>
/// One thread waiting in epoll_wait and running what the events make ready, inline: the receive or send that was
/// waiting, and the proxy code that continues after it. Like an nginx worker, a client connection and its production
/// connection stay on one loop; work from other threads (a shadow copy handed to the shadow's own loop) comes in
/// through <see cref="Post"/>.
/// </summary>
internal sealed unsafe class EventLoop
{
    /// <summary>The descriptors a loop holds for the process's life: its epoll and its eventfd (as /proc/PID/fd shows).</summary>
    public const int Descriptors = 2;

    private const int BatchSize = 256;

    /// <summary>The epoll token of the loop's own eventfd: no registration has it (a slot is at most int.MaxValue).</summary>
    private const ulong WakeToken = ulong.MaxValue;

    // struct epoll_event is packed on x86-64 (12 bytes), naturally aligned elsewhere (16).
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = EventSize - sizeof(ulong);

    [ThreadStatic]
    private static EventLoop? t_current;

    private static int s_started;

    private readonly int _epoll;
    private readonly Lock _slotsGate = new();
    private readonly Stack<int> _freeSlots = new();
    private IEventTarget?[] _targets = new IEventTarget?[1024];
    private int _usedSlots;
    private uint _generation;
    private readonly ConcurrentQueue<Action> _posted = new();
    private readonly int _wake;   // an eventfd: written to wake the thread from epoll_wait for posted work
    private int _sleeping;        // 1 while the thread is in (or about to enter) epoll_wait with nothing posted
    private readonly Action<Exception>? _handlerFailed;

    /// <param name="name">The thread's name after "ShadowProxy I/O ".</param>
    /// <param name="handlerFailed">Where this loop reports instead of <see cref="HandlerFailed"/> (a test's loop of its own).</param>
    public EventLoop(string name, Action<Exception>? handlerFailed = null)
    {
        _handlerFailed = handlerFailed;
        Number = Interlocked.Increment(ref s_started) - 1;
        _epoll = Libc.EpollCreate(Libc.EpollCloseOnExec);
        _wake = _epoll < 0 ? -1 : Libc.EventFd(0, Libc.EventFdNonBlocking | Libc.EventFdCloseOnExec);
        try
        {
            if (_wake < 0)
            {
                throw SocketErrors.Last();
            }

            byte* ev = stackalloc byte[16];
            *(uint*)ev = Libc.EpollIn | Libc.EpollEdgeTriggered;
            *(ulong*)(ev + DataOffset) = WakeToken;
            if (Libc.EpollControl(_epoll, Libc.EpollAdd, _wake, ev) != 0)
            {
                throw SocketErrors.Last();
            }

            var thread = new Thread(Run, maxStackSize: 256 * 1024) { IsBackground = true, Name = $"ShadowProxy I/O {name}" };
            thread.UnsafeStart();
        }
        catch
        {
            // A loop that cannot start gives back what it opened rather than hold it for the life of a process that goes on.
            CloseIfOpen(_wake);
            CloseIfOpen(_epoll);
            throw;
        }
    }

    private static void CloseIfOpen(int descriptor)
    {
        if (descriptor >= 0)
        {
            Libc.Close(descriptor);
        }
    }

    /// <summary>The order in which the process made this loop, from 0 (the proxy makes only its own, 0 to <see cref="EventLoops.Count"/> - 1).</summary>
    public int Number { get; }

    /// <summary>The loop whose thread is running the caller, if any.</summary>
    public static EventLoop? Current => t_current;

    /// <summary>
    /// Where an exception that escaped an event handler is reported (it would otherwise end the loop). One for the
    /// process, as the loops are: set by the proxy server at start.
    /// </summary>
    public static Action<Exception>? HandlerFailed { get; set; }

    private void ReportFailure(Exception failure) => (_handlerFailed ?? HandlerFailed)?.Invoke(failure);

    /// <summary>Takes a slot for the target and adds the descriptor to the epoll set with these events.</summary>
    public void Register(SafeHandle descriptor, IEventTarget target, uint events)
    {
        ulong token;
        lock (_slotsGate)
        {
            if (!_freeSlots.TryPop(out int slot))
            {
                slot = _usedSlots;
                if (slot == _targets.Length)
                {
                    // Grown before the slot is counted: a growth that fails (out of memory) leaves the table as it was.
                    IEventTarget?[] larger = new IEventTarget?[_targets.Length * 2];
                    _targets.CopyTo(larger, 0);
                    Volatile.Write(ref _targets, larger);
                }

                _usedSlots++;
            }

            token = ((ulong)++_generation << 32) | (uint)slot;
            target.RegistrationToken = token;
            _targets[slot] = target;
        }

        byte* ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + DataOffset) = token;
        if (Libc.EpollControl(_epoll, Libc.EpollAdd, descriptor, ev) != 0)
        {
            SocketException error = SocketErrors.Last();
            Release(target);
            throw error;
        }
    }

    /// <summary>Gives the target's slot back; its descriptor leaves the epoll set when closed (or see <see cref="Remove"/>).</summary>
    public void Release(IEventTarget target)
    {
        int slot = (int)(uint)target.RegistrationToken;
        lock (_slotsGate)
        {
            if (ReferenceEquals(_targets[slot], target))
            {
                _targets[slot] = null;
                _freeSlots.Push(slot);
            }
        }
    }

    /// <summary>Whether a slot still refers to the target (for tests and diagnostics: a closed socket must hold none).</summary>
    internal bool Holds(IEventTarget target)
    {
        lock (_slotsGate)
        {
            return Array.Exists(_targets, held => ReferenceEquals(held, target));
        }
    }

    /// <summary>Takes a descriptor that stays open (a listener shared by the loops) out of this loop's set.</summary>
    public void Remove(SafeHandle descriptor, IEventTarget target)
    {
        byte* ev = stackalloc byte[16];
        _ = Libc.EpollControl(_epoll, Libc.EpollDelete, descriptor, ev);
        Release(target);
    }

    /// <summary>
    /// Runs <paramref name="work"/> on this loop's thread, after the events it is handling now, in the order posted.
    /// The thread is woken (one eventfd write) only when it is waiting for events with nothing posted.
    /// </summary>
    public void Post(Action work)
    {
        _posted.Enqueue(work);
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            ulong one = 1;
            _ = Libc.Write(_wake, (byte*)&one, sizeof(ulong));
        }
    }

    private void Run()
    {
        t_current = this;
        byte* events = (byte*)NativeMemory.Alloc((nuint)(BatchSize * EventSize));
        while (true)
        {
            // Sleeping is said before the queue is looked at: work posted after the look finds it said, and wakes
            // the wait; work posted before it is seen, and the wait only polls.
            Interlocked.Exchange(ref _sleeping, 1);
            int count = Libc.EpollWait(_epoll, events, BatchSize, _posted.IsEmpty ? -1 : 0);
            Volatile.Write(ref _sleeping, 0);
            if (count < 0)
            {
                // EINTR: a signal (SIGTERM, a debugger); anything else would be a bug in the set itself.
                Thread.Sleep(Marshal.GetLastPInvokeError() == Libc.Interrupted ? 0 : 10);
                continue;
            }

            for (int i = 0; i < count; i++)
            {
                byte* ev = events + (i * EventSize);
                Dispatch(*(uint*)ev, *(ulong*)(ev + DataOffset));
            }

            RunPosted();
        }
    }

    private void RunPosted()
    {
        while (_posted.TryDequeue(out Action? work))
        {
            try
            {
                work();
            }
            catch (Exception ex)
            {
                ReportFailure(ex);
            }
        }
    }

    private void Dispatch(uint events, ulong token)
    {
        if (token == WakeToken)
        {
            ulong count;
            _ = Libc.Read(_wake, (byte*)&count, sizeof(ulong));   // resets the counter; the work is run after the batch
            return;
        }

        int slot = (int)(uint)token;
        IEventTarget?[] targets = Volatile.Read(ref _targets);
        IEventTarget? target = slot < targets.Length ? Volatile.Read(ref targets[slot]) : null;
        if (target is null || target.RegistrationToken != token)
        {
            return;   // closed since the event was queued; the slot may already belong to another socket
        }

        try
        {
            target.OnEvents(events);
        }
        catch (Exception ex)
        {
            ReportFailure(ex);
        }
    }
}
