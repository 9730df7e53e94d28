using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using ShadowProxy.Compare;
using ShadowProxy.Logging;
using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;

namespace ShadowProxy.Hosting;

/// <summary>
/// The merged settings (settings file, then SHADOWPROXY_ environment variables, then the command line), validated
/// into the proxy's options. Every problem is one line that names the option, so a typo never starts a proxy.
/// </summary>
internal sealed record ProxySettings(ProxyOptions Options, LineFormat Format, string? LogFile)
{
    public const string Section = "ShadowProxy";

    /// <summary>The merged configuration, kept so that the mirroring keys can be re-read when the settings file changes.</summary>
    public required IConfiguration Configuration { get; init; }

    /// <summary>--exclude from the command line, which keeps replacing the file's list on every reload.</summary>
    public string[]? ExcludeOverride { get; init; }

    /// <summary>Tells start-up failures of the settings file from reload failures.</summary>
    public SettingsFileLoad? FileLoad { get; init; }

    /// <summary>--stats-interval: a summary line on stderr this often; null for none.</summary>
    public TimeSpan? StatsInterval { get; init; }

    /// <summary>--metrics-listen: where the Prometheus scrape endpoint listens; null for none.</summary>
    public IPEndPoint? MetricsListen { get; init; }

    public static bool TryCreate(
        IConfiguration configuration, string[]? excludeOverride, out ProxySettings settings, out string error, string[]? ignoreFieldOverride = null)
    {
        settings = null!;
        IConfigurationSection section = configuration.GetSection(Section);
        var defaults = new ProxyOptions
        {
            Listen = new IPEndPoint(IPAddress.Any, 8001),
            Production = new IPEndPoint(IPAddress.Loopback, 80),
            Shadow = new IPEndPoint(IPAddress.Loopback, 0),
        };
        var reader = new Reader(section);
        IPEndPoint listen = reader.EndPoint("Listen", defaults.Listen, allowAnyPort: true) ?? defaults.Listen;
        IPEndPoint production = reader.EndPoint("Production", defaults.Production, allowAnyPort: false) ?? defaults.Production;
        IPEndPoint? shadow = reader.EndPoint("Shadow", null, allowAnyPort: false);
        if (reader.Error is null && shadow is null)
        {
            reader.Fail("--shadow is required: give --shadow HOST:PORT, \"Shadow\" in the settings file's \"ShadowProxy\" section, or SHADOWPROXY_SHADOW");
        }

        var options = defaults with
        {
            Listen = listen,
            Production = production,
            Shadow = shadow ?? defaults.Shadow,
            Mirror = new MirrorPolicySource(MirrorSettings.Read(reader, excludeOverride)),
            ProductionTimeout = reader.Seconds("ProductionTimeout", defaults.ProductionTimeout),
            ShadowTimeout = reader.Seconds("ShadowTimeout", defaults.ShadowTimeout),
            ConnectTimeout = reader.Seconds("ConnectTimeout", defaults.ConnectTimeout),
            ClientTimeout = reader.Seconds("ClientTimeout", defaults.ClientTimeout),
            KeepAliveTimeout = reader.Seconds("KeepAliveTimeout", defaults.KeepAliveTimeout),
            DrainTimeout = reader.Seconds("DrainTimeout", defaults.DrainTimeout),
            MaxConnections = reader.Integer("MaxConnections", defaults.MaxConnections, 1, 1_000_000),
            MaxRequestHeadBytes = reader.Integer("MaxHeadSize", defaults.MaxRequestHeadBytes, 1024, 1024 * 1024),
            MaxShadowBufferBytes = reader.Integer("ShadowBuffer", defaults.MaxShadowBufferBytes, 4096, 1024 * 1024 * 1024),
            MaxShadowBufferTotalBytes = reader.Integer("ShadowBufferTotal", (int)defaults.MaxShadowBufferTotalBytes, 65536, int.MaxValue),
            ClientKeepAlive = reader.Boolean("ClientKeepAlive", defaults.ClientKeepAlive),
            BackendKeepAlive = reader.Boolean("BackendKeepAlive", defaults.BackendKeepAlive),
            BackendIdleTimeout = reader.Seconds("BackendIdleTimeout", defaults.BackendIdleTimeout),
            Comparison = new BodyComparison(
                reader.List("CompareIgnoreFields", ignoreFieldOverride),
                reader.Integer("CompareJsonMaxBytes", BodyComparison.DefaultJsonMaxBytes, 0, 64 * 1024 * 1024)),
        };
        LineFormat format = reader.Format("Format");
        TimeSpan? statsInterval = reader.Seconds("StatsInterval");
        IPEndPoint? metricsListen = reader.EndPoint("MetricsListen", null, allowAnyPort: false);
        string? logFile = reader.Text("LogFile");
        if (reader.Error is null && shadow is not null)
        {
            CheckForLoop(reader, listen, production, "--production");
            CheckForLoop(reader, listen, shadow, "--shadow");
            if (metricsListen is not null && Overlaps(metricsListen, listen))
            {
                reader.Fail($"--metrics-listen {metricsListen} uses the proxy's own port");
            }

            if (metricsListen?.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                // The endpoint's HttpListener cannot parse a prefix with an IPv6 address ("Invalid port in prefix").
                reader.Fail($"--metrics-listen: '{metricsListen}' is an IPv6 address, which the metrics endpoint cannot listen on: use an IPv4 address or 0.0.0.0");
            }
        }

        error = reader.Error ?? string.Empty;
        if (reader.Error is not null)
        {
            return false;
        }

        settings = new ProxySettings(options, format, logFile)
        {
            Configuration = configuration,
            ExcludeOverride = excludeOverride,
            StatsInterval = statsInterval,
            MetricsListen = metricsListen,
        };
        return true;
    }

    /// <summary>A backend that is the proxy itself would send every request round in a circle.</summary>
    private static void CheckForLoop(Reader reader, IPEndPoint listen, IPEndPoint backend, string option)
    {
        // A connection to 0.0.0.0 or [::] goes to this box's own loopback address (Linux), as one to 127.0.0.1 or [::1];
        // one to [::ffff:127.0.0.1] is one to 127.0.0.1 (an IPv4-mapped address), and a socket bound to it listens there.
        IPAddress reached = Unmapped(backend.Address);
        reached = reached.Equals(IPAddress.Any) ? IPAddress.Loopback
            : reached.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : reached;
        IPAddress listening = Unmapped(listen.Address);
        bool samePort = listen.Port == backend.Port;
        bool sameHost = listening.Equals(reached) || (listening.IsWildcard() && IPAddress.IsLoopback(reached));
        if (samePort && sameHost)
        {
            reader.Fail($"{option} {backend} is the address the proxy listens on: requests would loop");
        }
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    // Two listening sockets on one port collide when they share the address or either is a wildcard
    // (127.0.0.1:9090 and 127.0.0.2:9090 do not; 0.0.0.0:9090 and 127.0.0.1:9090 do).
    private static bool Overlaps(IPEndPoint first, IPEndPoint second) =>
        first.Port == second.Port
        && (first.Address.Equals(second.Address) || first.Address.IsWildcard() || second.Address.IsWildcard());

    /// <summary>Reads one key after another; the first problem is kept and later reads return defaults.</summary>
    internal sealed class Reader(IConfigurationSection section)
    {
        public string? Error { get; private set; }

        public void Fail(string message) => Error ??= message;

        public IPEndPoint? EndPoint(string key, IPEndPoint? fallback, bool allowAnyPort)
        {
            string? text = section[key];
            if (string.IsNullOrWhiteSpace(text))
            {
                return fallback;
            }

            string candidate = text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" + text[9..] : text;
            int colon = candidate.LastIndexOf(':');
            bool hasPort = colon > 0 && candidate[..colon].Length > 0 && !candidate.EndsWith(']');
            if (!hasPort || !IPEndPoint.TryParse(candidate, out IPEndPoint? endpoint) || (endpoint.Port == 0 && !allowAnyPort))
            {
                Fail($"{OptionName(key)}: {OneLine.Quote(text)} is not an address HOST:PORT (an IP address, or localhost, and a port)");
                return fallback;
            }

            if (!IsDottedQuad(candidate.AsSpan(0, colon), endpoint.Address))
            {
                Fail($"{OptionName(key)}: {OneLine.Quote(text)} is not an address HOST:PORT: an IPv4 address is four decimal numbers without leading zeros (this one would be read as {endpoint.Address})");
                return fallback;
            }

            return endpoint;
        }

        /// <summary>
        /// IPAddress also takes inet_aton's forms, where "010.0.0.1" is octal (8.0.0.1), "10.1" is 10.0.0.1 and "1" is
        /// 0.0.0.1: a zero-padded or shortened address would send production's traffic, or its copy, to another host
        /// without a word. An IPv4 address must be the four decimal parts it is written back as (inet_pton's rule).
        /// </summary>
        private static bool IsDottedQuad(ReadOnlySpan<char> host, IPAddress address) =>
            address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || host.SequenceEqual(address.ToString());

        public TimeSpan Seconds(string key, TimeSpan fallback) => Seconds(key) ?? fallback;

        /// <summary>A number of seconds, or null when the key is not set (or is not a number: see <see cref="Error"/>).</summary>
        public TimeSpan? Seconds(string key)
        {
            string? text = section[key];
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            // Written so that NaN, which every comparison calls false, is refused too. At least a millisecond: a
            // smaller value (1e-300) is a zero TimeSpan, and a timeout of zero would fail every request at once.
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || seconds is not (>= 0.001 and <= 86_400))
            {
                Fail($"{OptionName(key)}: {OneLine.Quote(text)} is not a number of seconds from 0.001 to 86400");
                return null;
            }

            return TimeSpan.FromSeconds(seconds);
        }

        public int Integer(string key, int fallback, int min, int max)
        {
            string? text = section[key];
            if (string.IsNullOrWhiteSpace(text))
            {
                return fallback;
            }

            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min || value > max)
            {
                Fail($"{OptionName(key)}: {OneLine.Quote(text)} is not a whole number from {min} to {max}");
                return fallback;
            }

            return value;
        }

        public bool Boolean(string key, bool fallback)
        {
            string? text = section[key];
            switch (text?.Trim().ToUpperInvariant())
            {
                case null or "":
                    return fallback;
                case "TRUE" or "ON" or "YES":
                    return true;
                case "FALSE" or "OFF" or "NO":
                    return false;
                default:
                    Fail($"{OptionName(key)}: {OneLine.Quote(text)} is not on or off");
                    return fallback;
            }
        }

        /// <summary>
        /// A free-text key as given (null when empty or blank). A control character anywhere is refused, before any
        /// trimming could quietly drop a line break at an edge; the error does not echo the value, whose line break
        /// would split the one-line error.
        /// </summary>
        public string? Text(string key)
        {
            string? text = section[key];
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            if (text.Any(char.IsControl))
            {
                Fail($"{OptionName(key)}: the value holds a control character");
                return null;
            }

            return text;
        }

        /// <summary>A list key (a JSON array, or one comma-separated string); a non-empty override from the command line replaces it whole.</summary>
        /// <param name="splitCommas">
        /// Also split array items and command-line values at commas. When false (paths, which may hold a comma), only
        /// the one-string form of the file or environment is split; array items and repeated options stay whole.
        /// </param>
        public string[] List(string key, string[]? commandLineOverride, bool splitCommas = true)
        {
            string? oneString = commandLineOverride is { Length: > 0 } ? null : section[key];
            string[] values = commandLineOverride is { Length: > 0 } ? commandLineOverride
                : oneString is not null ? [oneString]
                : [.. section.GetSection(key).GetChildren().Select(child => child.Value).OfType<string>()];
            // Checked before the split, whose trimming would quietly drop a tab or line break at an item's edge.
            if (values.Any(value => value.Any(char.IsControl)))
            {
                Fail($"{OptionName(key)}: a value holds a control character");
            }

            return splitCommas || oneString is not null
                ? [.. values.SelectMany(value => value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))]
                : [.. values.Where(value => value.Length > 0)];
        }

        public LineFormat Format(string key)
        {
            string? text = section[key];
            switch (text?.Trim().ToUpperInvariant())
            {
                case null or "" or "TEXT":
                    return LineFormat.Text;
                case "JSON":
                    return LineFormat.Json;
                default:
                    Fail($"{OptionName(key)}: {OneLine.Quote(text)} is not a format: use text or json");
                    return LineFormat.Text;
            }
        }

        /// <summary>ProductionTimeout becomes --production-timeout: errors name what the user typed.</summary>
        private static string OptionName(string key) => key switch
        {
            "CompareIgnoreFields" => "--compare-ignore-field",   // the setting is plural, the repeatable option is not
            _ => "--" + string.Concat(key.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString())),
        };
    }
}
