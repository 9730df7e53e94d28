namespace ShadowProxy.Proxy;

/// <summary>The proxy's two backends' connection pools, owned by the server for its lifetime.</summary>
internal sealed class BackendPools(ProxyOptions options, TimeProvider time) : IAsyncDisposable
{
    public BackendPool Production { get; } =
        new(options.Production, options.BackendKeepAlive, options.BackendIdleTimeout, options.MaxIdleBackendConnections, time, Transport.EventLoops.Count);

    public BackendPool Shadow { get; } =
        new(options.Shadow, options.BackendKeepAlive, options.BackendIdleTimeout, options.MaxIdleBackendConnections, time, Transport.EventLoops.Count);

    public async ValueTask DisposeAsync()
    {
        await Production.DisposeAsync().ConfigureAwait(false);
        await Shadow.DisposeAsync().ConfigureAwait(false);
    }
}
