namespace ShadowProxy.Proxy;

/// <summary>
/// Fires the live <see cref="InactivityTimer"/>s whose deadline has passed, checking every
/// <see cref="TickMilliseconds"/> ms while any timer exists. One shared timer instead of one per timer: a request
/// restarts its timers several times, and each restart of a runtime timer takes the runtime's timer lock, where a
/// restart here is one write. A timeout fires up to a tick late; the proxy's timeouts are whole seconds.
/// </summary>
internal static class TimeoutSweeper
{
    public const int TickMilliseconds = 20;

    private static readonly Lock Gate = new();
    private static InactivityTimer? s_first;
    private static ITimer? s_ticker;

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

    private static void Sweep()
    {
        long now = Environment.TickCount64;
        List<InactivityTimer>? due = null;
        lock (Gate)
        {
            for (InactivityTimer? timer = s_first; timer is not null; timer = timer.Next)
            {
                if (timer.Deadline <= now)
                {
                    (due ??= []).Add(timer);
                }
            }

            if (s_first is null)
            {
                s_ticker?.Dispose();   // no timer left: stop ticking until the next one comes
                s_ticker = null;
            }
        }

        // Outside the lock: cancelling runs the waiting operations' continuations. Each fires only if its deadline is
        // still past: one restarted meanwhile (while earlier ones ran their continuations) stays.
        if (due is not null)
        {
            foreach (InactivityTimer timer in due)
            {
                timer.Expire(Environment.TickCount64);
            }
        }
    }
}
