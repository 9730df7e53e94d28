namespace ShadowProxy.Proxy;

/// <summary>
/// Fires the live <see cref="InactivityTimer"/>s whose deadline has passed, checking every
/// <see cref="TickMilliseconds"/> ms while any timer exists. One shared timer instead of one per timer: a request
/// restarts its timers several times, and each restart of a runtime timer takes the runtime's timer lock, where a
/// restart here is one write. A timeout fires up to a tick late; the proxy's timeouts are whole seconds.
/// A tick walks the timers only once the earliest deadline it knows of has come: each walk notes the earliest
/// deadline still ahead, and a timer whose new deadline is earlier lowers that mark. With 10,000 idle keep-alive
/// connections a tick is then one comparison, and a walk happens about once per timeout period (or when timers fire).
/// </summary>
internal static class TimeoutSweeper
{
    public const int TickMilliseconds = 20;

    private static readonly Lock Gate = new();
    private static InactivityTimer? s_first;
    private static ITimer? s_ticker;
    private static long s_earliest = long.MaxValue;   // no live timer is due before this (Environment.TickCount64 ms)

    public static void Add(InactivityTimer timer)
    {
        lock (Gate)
        {
            timer.Next = s_first;
            if (s_first is not null)
            {
                s_first.Previous = timer;
            }

            s_first = timer;
            s_ticker ??= TimeProvider.System.CreateTimer(
                static _ => Sweep(), null, TimeSpan.FromMilliseconds(TickMilliseconds), TimeSpan.FromMilliseconds(TickMilliseconds));
        }
    }

    public static void Remove(InactivityTimer timer)
    {
        lock (Gate)
        {
            if (timer.Previous is null && !ReferenceEquals(s_first, timer))
            {
                return;   // removed already
            }

            if (timer.Previous is null)
            {
                s_first = timer.Next;
            }
            else
            {
                timer.Previous.Next = timer.Next;
            }

            if (timer.Next is not null)
            {
                timer.Next.Previous = timer.Previous;
            }

            timer.Previous = timer.Next = null;
        }
    }

    /// <summary>A timer's deadline was set: a sweep must come by then.</summary>
    public static void NoteDeadline(long deadline)
    {
        long earliest = Volatile.Read(ref s_earliest);
        while (deadline < earliest)
        {
            long seen = Interlocked.CompareExchange(ref s_earliest, deadline, earliest);
            if (seen == earliest)
            {
                return;
            }

            earliest = seen;
        }
    }

    private static void Sweep()
    {
        long now = Environment.TickCount64;
        if (now < Volatile.Read(ref s_earliest) && Volatile.Read(ref s_first) is not null)
        {
            return;   // nothing can be due yet
        }

        List<InactivityTimer>? due = null;
        long earliestAhead = long.MaxValue;
        lock (Gate)
        {
            // Forget the mark before reading the deadlines: a deadline set during the walk is either read by it or
            // lowers the fresh mark itself (NoteDeadline after its write), and the walk's minimum is merged below.
            Interlocked.Exchange(ref s_earliest, long.MaxValue);
            for (InactivityTimer? timer = s_first; timer is not null; timer = timer.Next)
            {
                long deadline = timer.Deadline;
                if (deadline <= now)
                {
                    (due ??= []).Add(timer);
                }
                else if (deadline < earliestAhead)
                {
                    earliestAhead = deadline;
                }
            }

            if (s_first is null)
            {
                s_ticker?.Dispose();   // no timer left: stop ticking until the next one comes
                s_ticker = null;
            }
        }

        NoteDeadline(earliestAhead);

        // Outside the lock: cancelling runs the waiting operations' continuations. Each fires only if its deadline is
        // still past: one restarted meanwhile (while earlier ones ran their continuations) stays, and its restart
        // noted its new deadline.
        if (due is not null)
        {
            foreach (InactivityTimer timer in due)
            {
                timer.Expire(Environment.TickCount64);
            }
        }
    }
}
