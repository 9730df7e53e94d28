namespace ShadowProxy.Proxy;

/// <summary>
/// Fires the live <see cref="InactivityTimer"/>s whose deadline has passed. One shared runtime timer instead of one
/// per timer: a request restarts its timers several times, and each restart of a runtime timer takes the runtime's
/// timer lock, where a restart here is one write.
/// The runtime timer is armed for the earliest deadline the sweeper knows of. A sweep walks the timers, fires the
/// due ones and arms for the earliest deadline still ahead; a timer whose new deadline is earlier than that
/// (a shorter timeout, or a timer started after the walk) brings the sweep forward. Deadlines only move later as
/// peers make progress, so with 10,000 idle keep-alive connections a sweep comes about once per timeout period, and
/// a proxy with open but quiet connections is not woken every few milliseconds. Sweeps are at least
/// <see cref="TickMilliseconds"/> apart, so a timeout fires up to that late (the proxy's timeouts are whole seconds)
/// and many deadlines falling due one after another cost at most one walk per tick.
/// </summary>
internal static class TimeoutSweeper
{
    public const int TickMilliseconds = 20;

    private const long Unarmed = long.MaxValue;

    private static readonly Lock Gate = new();
    private static readonly ITimer Ticker = TimeProvider.System.CreateTimer(
        static _ => Sweep(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

    private static InactivityTimer? s_first;
    private static long s_armedFor = Unarmed;   // when the next sweep runs (Environment.TickCount64 ms); read without the lock
    private static long s_lastSweep;

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

    /// <summary>A timer's deadline was set (after the write): a sweep must come by then.</summary>
    public static void NoteDeadline(long deadline)
    {
        if (deadline >= Volatile.Read(ref s_armedFor))
        {
            return;   // the common case: a sweep comes earlier anyway
        }

        lock (Gate)
        {
            ArmFor(deadline);
        }
    }

    // Under the lock. Arms the runtime timer for the deadline (a tick after the last sweep at the earliest) unless
    // it is armed for earlier already.
    private static void ArmFor(long deadline)
    {
        long at = Math.Max(deadline, s_lastSweep + TickMilliseconds);
        if (at >= s_armedFor)
        {
            return;
        }

        // At most int.MaxValue ms ahead (the runtime timer takes up to 0xFFFFFFFE ms): a sweep that comes before
        // every deadline fires nothing and arms again.
        Volatile.Write(ref s_armedFor, at);
        Ticker.Change(TimeSpan.FromMilliseconds(Math.Clamp(at - Environment.TickCount64, 1, int.MaxValue)), Timeout.InfiniteTimeSpan);
    }

    private static void Sweep()
    {
        List<InactivityTimer>? due = null;
        long now;
        lock (Gate)
        {
            // Disarmed before the deadlines are read, with a full fence (as InactivityTimer writes its deadline): a
            // deadline written during the walk is either read by it, or its NoteDeadline sees the sweeper disarmed,
            // waits for the lock and arms for it afterwards.
            now = Environment.TickCount64;
            s_lastSweep = now;
            Interlocked.Exchange(ref s_armedFor, Unarmed);
            long earliestAhead = long.MaxValue;
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

            if (due is { Count: > 1 })
            {
                // Each expiry runs its waiters inline: if one blocks, another sweep fires the rest.
                earliestAhead = Math.Min(earliestAhead, now + TickMilliseconds);
            }

            if (earliestAhead != long.MaxValue)
            {
                ArmFor(earliestAhead);
            }
        }

        // Outside the lock: cancelling runs the waiting operations' continuations. Each fires only if its deadline is
        // still past: one restarted meanwhile (while earlier ones ran their continuations) stays, and its restart
        // armed the sweep for its new deadline.
        if (due is not null)
        {
            foreach (InactivityTimer timer in due)
            {
                timer.Expire(Environment.TickCount64);
            }
        }
    }
}
