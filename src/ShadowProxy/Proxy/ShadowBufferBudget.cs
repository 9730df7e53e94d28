namespace ShadowProxy.Proxy;

/// <summary>
/// The request bytes held for all shadows together. The per-request bound alone would let many slow shadow copies
/// add up to gigabytes; past this one, the copy that would exceed it is abandoned as overflow.
/// </summary>
internal sealed class ShadowBufferBudget(long limit)
{
    private long _used;

    /// <summary>Bytes held for shadows right now.</summary>
    public long Used => Interlocked.Read(ref _used);

    public bool TryTake(int bytes)
    {
        if (Interlocked.Add(ref _used, bytes) <= limit)
        {
            return true;
        }

        Interlocked.Add(ref _used, -bytes);
        return false;
    }

    public void Release(int bytes) => Interlocked.Add(ref _used, -bytes);
}
