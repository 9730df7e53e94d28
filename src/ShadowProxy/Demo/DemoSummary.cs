using System.Globalization;
using ShadowProxy.Logging;

namespace ShadowProxy.Demo;

/// <summary>What a newcomer should take from the demo: which status pairs occurred, where the shadow differs, how fast each side was.</summary>
internal static class DemoSummary
{
    public static void Write(IReadOnlyCollection<RequestRecord> records, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine($"Summary of {records.Count} requests");
        output.WriteLine("  production -> shadow   requests");
        foreach (var pair in records
            .GroupBy(record => (Production: Status(record.Production.StatusCode), Shadow: Status(record.Shadow.StatusCode)))
            .OrderByDescending(group => group.Count())
            .ThenBy(group => group.Key.Production, StringComparer.Ordinal)
            .ThenBy(group => group.Key.Shadow, StringComparer.Ordinal))
        {
            output.WriteLine($"  {pair.Key.Production,10} -> {pair.Key.Shadow,-6}   {pair.Count(),8}");
        }

        var mismatches = records.Where(record => record.Production.StatusCode != record.Shadow.StatusCode).ToList();
        string where = string.Join(", ", mismatches
            .GroupBy(record => record.Url.Split('?')[0])
            .OrderByDescending(group => group.Count())   // most first, then by path: requests finish in any order
            .ThenBy(group => group.Key, StringComparer.Ordinal)
            .Select(group => $"{group.Key} x{group.Count()}"));
        output.WriteLine($"  status mismatches: {mismatches.Count} of {records.Count}{(mismatches.Count > 0 ? $" ({where})" : "")}");
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"  median time: production {Median(records.Select(r => r.Production.Elapsed)):F3} s, shadow {Median(records.Select(r => r.Shadow.Elapsed)):F3} s"));
    }

    private static string Status(int code) => code > 0 ? code.ToString(CultureInfo.InvariantCulture) : "-";

    private static double Median(IEnumerable<TimeSpan?> times)
    {
        double[] seconds = times.OfType<TimeSpan>().Select(time => time.TotalSeconds).Order().ToArray();
        return seconds.Length == 0 ? double.NaN : seconds[seconds.Length / 2];
    }
}
