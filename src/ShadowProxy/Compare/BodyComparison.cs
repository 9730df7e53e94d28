namespace ShadowProxy.Compare;

/// <summary>How the two response bodies of a request are compared.</summary>
/// <param name="IgnoredFields">JSON member names left out of the comparison at any depth (timestamps, ids); none: compare hashes only.</param>
/// <param name="JsonMaxBytes">The largest body kept (in a pooled buffer) to be compared as JSON; larger bodies are compared by hash.</param>
internal sealed record BodyComparison(IReadOnlyList<string> IgnoredFields, int JsonMaxBytes)
{
    /// <summary>256 KiB: most API answers, and a bound on the memory two captured bodies hold per request.</summary>
    public const int DefaultJsonMaxBytes = 256 * 1024;

    public static BodyComparison Plain { get; } = new([], DefaultJsonMaxBytes);

    /// <summary>The ignored names as UTF-8, what the JSON reader compares against.</summary>
    public byte[][] IgnoredUtf8 { get; } = [.. IgnoredFields.Select(System.Text.Encoding.UTF8.GetBytes)];

    /// <summary>Bodies are kept and compared as JSON only when there is something to ignore; otherwise the hash says it all.</summary>
    public bool ComparesJson => IgnoredFields.Count > 0 && JsonMaxBytes > 0;
}
