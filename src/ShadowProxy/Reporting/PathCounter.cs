namespace ShadowProxy.Reporting;

/// <summary>A plain per-path count, for the "shadow failed" and "body differs" tables.</summary>
internal sealed class PathCounter : ICountedPath
{
    public long Count { get; set; }
}
