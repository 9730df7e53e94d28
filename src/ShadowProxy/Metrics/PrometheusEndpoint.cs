using System.Net;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using ShadowProxy.Hosting;

namespace ShadowProxy.Metrics;

/// <summary>
/// --metrics-listen: the meter in Prometheus text format at http://HOST:PORT/metrics, through OpenTelemetry's
/// HttpListener exporter (it renders counters and histograms, with HELP and TYPE, as Prometheus expects them).
/// </summary>
internal sealed class PrometheusEndpoint(IPEndPoint listen) : IHostedService, IDisposable
{
    /// <summary>
    /// The runtime's own meter (.NET 9 and later): CPU time, GC heap and collections, bytes allocated, threads. Beside
    /// the proxy's counters it tells a slow box from a slow proxy, and allocations per request under load.
    /// </summary>
    public const string RuntimeMeterName = "System.Runtime";

    private MeterProvider? _provider;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(ProxyMetrics.MeterName)
            .AddMeter(RuntimeMeterName)
            .AddPrometheusHttpListener(options =>
            {
                // IPv4 only (ProxySettings refuses IPv6: HttpListener cannot parse a prefix with one). The exporter makes
                // a URI of Host, which takes no wildcard ("*" failed the start), and HttpListener refuses 0.0.0.0; so a
                // wildcard gets a placeholder here, replaced below by HttpListener's own "+": bound to 0.0.0.0, any Host.
                bool wildcard = listen.Address.IsWildcard();
                options.Host = wildcard ? "localhost" : listen.Address.ToString();
                options.Port = listen.Port;
                options.ScrapeResponseCacheDurationMilliseconds = 0;   // a scrape shows the counts as they are
                if (wildcard)
                {
                    options.ConfigureHttpListener = (configured, listener) =>
                    {
                        listener.Prefixes.Clear();
                        listener.Prefixes.Add($"http://+:{configured.Port}{configured.ScrapeEndpointPath}/");
                    };
                }
            })
            .Build();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _provider?.Dispose();
        _provider = null;
    }
}
