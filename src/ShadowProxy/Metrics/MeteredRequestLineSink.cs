using ShadowProxy.Logging;

namespace ShadowProxy.Metrics;

/// <summary>Counts each finished request in <see cref="ProxyMetrics"/>, then passes it on to the request-line writer.</summary>
internal sealed class MeteredRequestLineSink(ProxyMetrics metrics, IRequestLineSink lines) : IRequestLineSink, IAsyncDisposable
{
    public void Write(in RequestRecord record)
    {
        metrics.Record(record);
        lines.Write(record);
    }

    public ValueTask DisposeAsync() => lines is IAsyncDisposable disposable ? disposable.DisposeAsync() : ValueTask.CompletedTask;
}
