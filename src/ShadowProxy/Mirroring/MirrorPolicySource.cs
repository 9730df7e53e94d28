namespace ShadowProxy.Mirroring;

/// <summary>
/// The policy in force, swapped atomically when the settings file is reloaded, and the count of shadow copies in
/// flight (which outlives any one policy). Connections read <see cref="Current"/> once per request.
/// </summary>
internal sealed class MirrorPolicySource(MirrorPolicy initial)
{
    private MirrorPolicy _current = initial;
    private int _inflight;

    public MirrorPolicy Current => Volatile.Read(ref _current);

    /// <summary>Shadow copies running right now.</summary>
    public int Inflight => Volatile.Read(ref _inflight);

    public void Update(MirrorPolicy policy) => Volatile.Write(ref _current, policy);

    /// <summary>Counts a copy in, unless <paramref name="max"/> (when above 0) are already running. Each true needs one <see cref="Exit"/>.</summary>
    public bool TryEnter(int max)
    {
        if (Interlocked.Increment(ref _inflight) > max && max > 0)
        {
            Interlocked.Decrement(ref _inflight);
            return false;
        }

        return true;
    }

    public void Exit() => Interlocked.Decrement(ref _inflight);
}
