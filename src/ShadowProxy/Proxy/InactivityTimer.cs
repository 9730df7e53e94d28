namespace ShadowProxy.Proxy;

/// <summary>
/// A cancellation that fires when a peer stays silent too long: started before each wait on the peer, stopped
/// when the peer answers. Linked to a parent token, so that aborting the connection cancels the wait too.
/// Starting and stopping only note a deadline (no timer is touched: they happen several times per request);
/// <see cref="TimeoutSweeper"/> fires the timers whose deadline has passed.
/// </summary>
internal sealed class InactivityTimer : IDisposable
{
    private const long Never = long.MaxValue;

    private readonly CancellationTokenSource _source = new();
    private readonly TimeSpan _timeout;
    private readonly CancellationTokenRegistration _parent;
    private long _deadline = Never;   // Environment.TickCount64 milliseconds

    public InactivityTimer(TimeSpan timeout, CancellationToken parent)
    {
        _timeout = timeout;
        TimeoutSweeper.Add(this);
        _parent = parent.UnsafeRegister(static state => ((InactivityTimer)state!).Cancel(), this);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The timeout fired (or the parent was cancelled): the peer is to be given up on.</summary>
    public bool HasFired => _source.IsCancellationRequested;

    /// <summary>When the timer fires (Environment.TickCount64 milliseconds); long.MaxValue while stopped.</summary>
    public long Deadline => Volatile.Read(ref _deadline);

    // The sweeper's list links (guarded by its lock).
    internal InactivityTimer? Previous { get; set; }

    internal InactivityTimer? Next { get; set; }

    /// <summary>
    /// Asked when the timer falls due, with the time (Environment.TickCount64 milliseconds): a later deadline if the
    /// peer is not silent, only busy where no read or write of the proxy's shows it (production still taking a body
    /// the kernel buffered); 0 to fire. Not asked for a timer cancelled outright, nor while none is set (connecting).
    /// </summary>
    public Func<long, long>? StillBusy { get; set; }

    /// <summary>The timeout that <see cref="Start"/> runs, in whole milliseconds as the deadlines count it.</summary>
    public long TimeoutMilliseconds => (long)Math.Ceiling(_timeout.TotalMilliseconds);

    public void Start() => Restart(_timeout);

    public void Stop() => Volatile.Write(ref _deadline, Never);

    public void Restart(TimeSpan timeout)
    {
        if (_source.IsCancellationRequested)
        {
            return;
        }

        if (timeout < TimeSpan.Zero)
        {
            Stop();   // Timeout.InfiniteTimeSpan
        }
        else if (timeout == TimeSpan.Zero)
        {
            Cancel();
        }
        else
        {
            // A full fence (Interlocked), not a volatile write: the sweeper's check below must not be read before this
            // write is visible, or a sweep walking meanwhile could miss the deadline while the check skips arming.
            long deadline = Environment.TickCount64 + (long)Math.Ceiling(timeout.TotalMilliseconds);
            Interlocked.Exchange(ref _deadline, deadline);
            TimeoutSweeper.NoteDeadline(deadline);
        }
    }

    /// <summary>
    /// The sweeper's call: fires only if the deadline it found past is still the deadline. The owner may have
    /// restarted the timer between the sweep's look and this call (the timers fired before this one run their
    /// waiting code inline), and a timer restarted by its peer's progress must not fire.
    /// </summary>
    internal void Expire(long now)
    {
        long deadline = Volatile.Read(ref _deadline);
        if (deadline > now)
        {
            return;
        }

        long next = StillBusy?.Invoke(now) ?? 0;
        if (next > now)
        {
            if (Interlocked.CompareExchange(ref _deadline, next, deadline) == deadline)
            {
                TimeoutSweeper.NoteDeadline(next);
            }
        }
        else if (Interlocked.CompareExchange(ref _deadline, Never, deadline) == deadline)
        {
            Cancel();
        }
    }

    /// <summary>Gives up at once, as if the peer had timed out.</summary>
    public void Cancel()
    {
        Volatile.Write(ref _deadline, Never);
        try
        {
            _source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Fired by the sweeper or the parent just as the owner finished with it: nobody waits any more.
        }
    }

    public void Dispose()
    {
        TimeoutSweeper.Remove(this);
        _parent.Unregister();   // not Dispose: that would wait for a parent callback running on another thread
        _source.Dispose();
    }
}
