namespace ShadowProxy.Hosting;

/// <summary>
/// The options as typed on the command line, unvalidated; null where not given, so that the settings file can fill
/// them. <see cref="AsConfiguration"/> turns them into keys of the <c>ShadowProxy</c> section, where they win;
/// <see cref="Exclude"/> and <see cref="CompareIgnoreField"/> replace the file's lists whole (configuration would merge lists index by index).
/// </summary>
internal sealed record CommandLineSettings(
    string? Listen = null,
    string? Production = null,
    string? Shadow = null,
    string[]? Exclude = null,
    string? LogFile = null,
    string? Format = null,
    string? Config = null,
    string? ProductionTimeout = null,
    string? ShadowTimeout = null,
    string? ConnectTimeout = null,
    string? ClientTimeout = null,
    string? KeepAliveTimeout = null,
    string? DrainTimeout = null,
    string? MaxConnections = null,
    string? MaxHeadSize = null,
    string? ShadowBuffer = null,
    string? ShadowBufferTotal = null,
    string? ClientKeepAlive = null,
    string? BackendKeepAlive = null,
    string? BackendIdleTimeout = null,

    string[]? CompareIgnoreField = null,
    string? CompareJsonMaxBytes = null,
    string? ShadowPercent = null,
    string? ShadowSticky = null,
    string? ShadowMethods = null,
    string? ShadowMaxInflight = null,
    string? ShadowMaxBody = null,
    string? ShadowHeader = null,
    string? ShadowHost = null,
    string? StatsInterval = null,
    string? MetricsListen = null)
{
    public IEnumerable<KeyValuePair<string, string?>> AsConfiguration()
    {
        var values = new List<KeyValuePair<string, string?>>();
        void Add(string key, string? value)
        {
            if (value is not null)
            {
                values.Add(new($"{ProxySettings.Section}:{key}", value));
            }
        }

        Add(nameof(Listen), Listen);
        Add(nameof(Production), Production);
        Add(nameof(Shadow), Shadow);
        Add(nameof(LogFile), LogFile);
        Add(nameof(Format), Format);
        Add(nameof(ProductionTimeout), ProductionTimeout);
        Add(nameof(ShadowTimeout), ShadowTimeout);
        Add(nameof(ConnectTimeout), ConnectTimeout);
        Add(nameof(ClientTimeout), ClientTimeout);
        Add(nameof(KeepAliveTimeout), KeepAliveTimeout);
        Add(nameof(DrainTimeout), DrainTimeout);
        Add(nameof(MaxConnections), MaxConnections);
        Add(nameof(MaxHeadSize), MaxHeadSize);
        Add(nameof(ShadowBuffer), ShadowBuffer);
        Add(nameof(ShadowBufferTotal), ShadowBufferTotal);
        Add(nameof(ClientKeepAlive), ClientKeepAlive);
        Add(nameof(BackendKeepAlive), BackendKeepAlive);
        Add(nameof(BackendIdleTimeout), BackendIdleTimeout);
        Add(nameof(CompareJsonMaxBytes), CompareJsonMaxBytes);
        Add(nameof(ShadowPercent), ShadowPercent);
        Add(nameof(ShadowSticky), ShadowSticky);
        Add(nameof(ShadowMethods), ShadowMethods);
        Add(nameof(ShadowMaxInflight), ShadowMaxInflight);
        Add(nameof(ShadowMaxBody), ShadowMaxBody);
        Add(nameof(ShadowHeader), ShadowHeader);
        Add(nameof(ShadowHost), ShadowHost);
        Add(nameof(StatsInterval), StatsInterval);
        Add(nameof(MetricsListen), MetricsListen);
        return values;
    }
}
