using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ShadowProxy.Metrics;

/// <summary>
/// --stats-interval: every interval, one line on stderr with the rate, mismatches, shadow errors, skips and median
/// times; on shutdown (after the proxy has drained) one more for the last, partial interval, so every request is counted.
/// </summary>
internal sealed partial class StatsReporter(ProxyMetrics metrics, TimeSpan interval, TimeProvider time, ILogger<StatsReporter> logger) : BackgroundService
{
    private long _intervalStart = time.GetTimestamp();
    private volatile bool _stopping;

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        return base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Report();
            }
        }
        catch (OperationCanceledException) when (_stopping)
        {
            Report();
        }
        catch (OperationCanceledException)
        {
            // Disposed without a stop: the start failed (a taken port), nothing was served, and its one line says why.
        }
    }

    private void Report()
    {
        IntervalTotals totals = metrics.TakeInterval();
        TimeSpan elapsed = time.GetElapsedTime(_intervalStart);
        _intervalStart = time.GetTimestamp();
        if (logger.IsEnabled(LogLevel.Information))
        {
            string productionMedian = Seconds(totals.ProductionMedian);
            string shadowMedian = Seconds(totals.ShadowMedian);
            double rate = totals.Requests / Math.Max(elapsed.TotalSeconds, 0.001);
            Stats(
                logger,
                rate,
                totals.Requests,
                totals.Mismatches,
                totals.ShadowErrors,
                totals.Skips,
                productionMedian,
                shadowMedian);
        }
    }

    private static string Seconds(TimeSpan? median) =>
        median is { } value ? value.TotalSeconds.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) : "-";

    [LoggerMessage(EventId = 500, Level = LogLevel.Information,
        Message = "stats: {Rate:0.0} req/s, {Requests} requests, {Mismatches} mismatches, {ShadowErrors} shadow errors, {Skips} skipped; p50 production {ProductionP50} s, shadow {ShadowP50} s")]
    private static partial void Stats(ILogger logger, double rate, long requests, long mismatches, long shadowErrors, long skips, string productionP50, string shadowP50);
}
