using System.Diagnostics;
using System.Diagnostics.Metrics;
using ShadowProxy.Compare;
using ShadowProxy.Logging;
using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;

namespace ShadowProxy.Metrics;

/// <summary>
/// The "ShadowProxy" meter (what dotnet-counters and the Prometheus endpoint read), plus the interval totals the
/// stats line prints. Recording a request allocates nothing: tag values are cached strings in a <see cref="TagList"/>.
/// </summary>
internal sealed class ProxyMetrics : IDisposable
{
    public const string MeterName = "ShadowProxy";

    private static readonly string[] StatusNames = [.. Enumerable.Range(0, 600).Select(code => code == 0 ? "none" : code.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>
    /// Bucket bounds in seconds, from 1 ms to the 60 s default timeouts. Without them OpenTelemetry uses its defaults
    /// (0, 5, 10, 25 ... 10000), meant for milliseconds: every request under 5 s would land in one bucket.
    /// </summary>
    private static readonly InstrumentAdvice<double> DurationAdvice = new()
    {
        HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60],
    };

    private readonly Meter _meter = new(MeterName, "1.0");
    private readonly Counter<long> _requests;
    private readonly Counter<long> _diffs;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _skips;
    private readonly Histogram<double> _productionDuration;
    private readonly Histogram<double> _shadowDuration;

    // One lock for the four interval counts, so that a stats line never shows a request's skip or mismatch without
    // the request itself ("0 requests, 1 skipped"). Uncontended but for the stats tick: a few nanoseconds a request.
    private readonly Lock _interval = new();
    private long _intervalRequests;
    private long _intervalMismatches;
    private long _intervalShadowErrors;
    private long _intervalSkips;

    public ProxyMetrics()
    {
        _requests = _meter.CreateCounter<long>("shadowproxy.requests", "{request}", "Requests answered, by production and shadow status");
        _diffs = _meter.CreateCounter<long>("shadowproxy.diffs", "{request}", "Requests by how the shadow's answer compared: same, status, body, shadow_error, production_error, skipped");
        _errors = _meter.CreateCounter<long>("shadowproxy.errors", "{request}", "Backend failures, by side and error word");
        _skips = _meter.CreateCounter<long>("shadowproxy.skips", "{request}", "Requests not mirrored, by reason");
        _productionDuration = _meter.CreateHistogram("shadowproxy.production.duration", "s", "Production: first request byte to end of response", tags: null, DurationAdvice);
        _shadowDuration = _meter.CreateHistogram("shadowproxy.shadow.duration", "s", "Shadow: first request byte to end of response", tags: null, DurationAdvice);
    }

    /// <summary>The meter itself, for in-process listeners.</summary>
    public Meter Meter => _meter;

    public LatencyBuckets ProductionTimes { get; } = new();

    public LatencyBuckets ShadowTimes { get; } = new();

    public void Record(in RequestRecord record)
    {
        Comparison comparison = record.Comparison;
        var statuses = new TagList
        {
            { "production_status", Status(record.Production.StatusCode) },
            { "shadow_status", Status(record.Shadow.StatusCode) },
        };
        _requests.Add(1, statuses);
        _diffs.Add(1, new KeyValuePair<string, object?>("diff", Comparison.Word(comparison.Diff)));
        RecordError("production", record.Production.Error);
        RecordError("shadow", record.Shadow.Error);
        string? skipReason = ShadowSkipWords.Word(record.ShadowSkipped);
        if (skipReason is not null)
        {
            _skips.Add(1, new KeyValuePair<string, object?>("reason", skipReason));
        }

        if (record.Production.Elapsed is { } production)
        {
            _productionDuration.Record(production.TotalSeconds);
            ProductionTimes.Record(production);
        }

        if (record.Shadow.Elapsed is { } shadow)
        {
            _shadowDuration.Record(shadow.TotalSeconds);
            ShadowTimes.Record(shadow);
        }

        lock (_interval)
        {
            _intervalRequests++;
            _intervalMismatches += comparison.Diff is DiffKind.Status or DiffKind.Body ? 1 : 0;
            _intervalShadowErrors += comparison.Diff == DiffKind.ShadowError ? 1 : 0;
            _intervalSkips += skipReason is null ? 0 : 1;
        }
    }

    /// <summary>Totals since the last call, and starts over: what one stats line reports.</summary>
    public IntervalTotals TakeInterval()
    {
        long requests, mismatches, shadowErrors, skips;
        lock (_interval)
        {
            (requests, mismatches, shadowErrors, skips) = (_intervalRequests, _intervalMismatches, _intervalShadowErrors, _intervalSkips);
            (_intervalRequests, _intervalMismatches, _intervalShadowErrors, _intervalSkips) = (0, 0, 0, 0);
        }

        return new(requests, mismatches, shadowErrors, skips, ProductionTimes.TakeMedian(), ShadowTimes.TakeMedian());
    }

    public void Dispose() => _meter.Dispose();

    private void RecordError(string side, BackendError error)
    {
        if (error.Word() is { } word)
        {
            _errors.Add(1, new KeyValuePair<string, object?>("side", side), new KeyValuePair<string, object?>("error", word));
        }
    }

    private static string Status(int code) => (uint)code < StatusNames.Length ? StatusNames[code] : "other";
}
