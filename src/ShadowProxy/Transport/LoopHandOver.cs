namespace ShadowProxy.Transport;

/// <summary>
/// Hands work to a loop of its own while fewer than a bound of pieces are there, so that the loop cannot fall behind
/// without limit. Past the bound the work stays where it is: on the caller's loop it then costs that loop the time it
/// would have cost the other, which slows what feeds it (back-pressure) instead of piling up memory and late work.
/// </summary>
internal sealed class LoopHandOver(EventLoop? loop, int bound)
{
    private int _count;

    /// <summary>Pieces handed over and not yet left.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The hop to await: to the loop when there is room (<paramref name="entered"/>: call <see cref="Leave"/> once
    /// the work ends), else one that completes at once, where the caller is.</summary>
    public LoopHop Enter(out bool entered)
    {
        entered = loop is not null && Interlocked.Increment(ref _count) <= bound;
        if (!entered && loop is not null)
        {
            Interlocked.Decrement(ref _count);
        }

        return new LoopHop(entered ? loop : null);
    }

    public void Leave() => Interlocked.Decrement(ref _count);
}
