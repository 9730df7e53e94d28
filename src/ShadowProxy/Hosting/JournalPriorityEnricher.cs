using Serilog.Core;
using Serilog.Events;

namespace ShadowProxy.Hosting;

/// <summary>
/// Gives each diagnostic the syslog priority that sd-daemon(3) reads from a "&lt;N&gt;" line prefix, so that
/// journald files a warning as a warning (<c>journalctl -p warning</c>) instead of everything at the unit's level.
/// </summary>
internal sealed class JournalPriorityEnricher : ILogEventEnricher
{
    public const string PropertyName = "JournalPriority";

    // Indexed by LogEventLevel: Verbose and Debug are debug (7), Information info (6), Warning warning (4),
    // Error err (3), Fatal crit (2).
    private static readonly LogEventProperty[] Priorities =
        [.. new[] { 7, 7, 6, 4, 3, 2 }.Select(priority => new LogEventProperty(PropertyName, new ScalarValue(priority)))];

    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        logEvent.AddPropertyIfAbsent(Priorities[(int)logEvent.Level]);
    }
}
