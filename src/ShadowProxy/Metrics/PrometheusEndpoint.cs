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
    private MeterProvider? _provider;

    /// <summary>The host HttpListener binds to; a wildcard address becomes its "*".</summary>
    private string Host =>
        listen.Address.IsWildcard() ? "*"
        : listen.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{listen.Address}]"
        : listen.Address.ToString();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(ProxyMetrics.MeterName)
            .AddPrometheusHttpListener(options =>
            {
                options.Host = Host;
                options.Port = listen.Port;
                options.ScrapeResponseCacheDurationMilliseconds = 0;   // a scrape shows the counts as they are
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
