using System.Globalization;
using ShadowProxy.Hosting;

namespace ShadowProxy.Reporting;

/// <summary>How numbers look in both renderers: counts with thousands separators, times as seconds like the log.</summary>
internal static class ReportFormat
{
    public static string Count(long count) => count.ToString("N0", CultureInfo.InvariantCulture);

    public static string Seconds(long? milliseconds) =>
        milliseconds is { } value ? (value / 1000m).ToString("0.000", CultureInfo.InvariantCulture) : "-";

    /// <summary>A signed delta: "+0.120" or "-0.003", so a glance tells slower from faster.</summary>
    public static string SignedSeconds(long? milliseconds) =>
        milliseconds is { } value ? (value / 1000m).ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture) : "-";

    /// <summary>Text from the log as the terminal should see it: control characters (escapes, line breaks) as '?'.</summary>
    public static string Printable(string text) => OneLine.ReplaceControls(text, '?');

    public static string Status(int status) => status switch
    {
        StatusPair.NoStatus => "-",
        StatusPair.Skipped => "skipped",
        _ => status.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// A share to one decimal, except that one failure in 100,000 is not "0.0%" and all but one not "100.0%": a report
    /// read at a glance must not round a difference away.
    /// </summary>
    public static string Percent(long part, long whole)
    {
        if (whole == 0)
        {
            return "0%";
        }

        string rounded = ((double)part / whole).ToString("0.0%", CultureInfo.InvariantCulture);
        return part > 0 && rounded == "0.0%" ? "<0.1%"
            : part < whole && rounded == "100.0%" ? ">99.9%"
            : rounded;
    }

    /// <summary>A bytes count for progress lines: "12 KB", "512 MB", "1.2 GB".</summary>
    public static string Bytes(long bytes) =>
        bytes >= 1L << 30 ? (bytes / (double)(1L << 30)).ToString("0.0 GB", CultureInfo.InvariantCulture)
        : bytes >= 1L << 20 ? (bytes >> 20).ToString("0 MB", CultureInfo.InvariantCulture)
        : (bytes >> 10).ToString("0 KB", CultureInfo.InvariantCulture);
}
