namespace ShadowProxy.Proxy;

/// <summary>
/// A cancellation that fires when a peer stays silent too long: started before each wait on the peer, stopped
/// when the peer answers. Linked to a parent token, so that aborting the connection cancels the wait too.
/// </summary>
internal sealed class InactivityTimer : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly TimeSpan _timeout;

    public InactivityTimer(TimeSpan timeout, CancellationToken parent)
    {
        _timeout = timeout;
        _source = CancellationTokenSource.CreateLinkedTokenSource(parent);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The timeout fired (or the parent was cancelled): the peer is to be given up on.</summary>
    public bool HasFired => _source.IsCancellationRequested;

    public void Start() => Restart(_timeout);

    public void Stop() => Restart(Timeout.InfiniteTimeSpan);

    public void Restart(TimeSpan timeout)
    {
        if (!_source.IsCancellationRequested)
        {
            _source.CancelAfter(timeout);
        }
    }

    /// <summary>Gives up at once, as if the peer had timed out.</summary>
    public void Cancel() => _source.Cancel();

    public void Dispose() => _source.Dispose();
}
