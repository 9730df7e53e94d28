namespace ShadowProxy.Reporting;

/// <summary>A path and how many of its requests had some property.</summary>
internal sealed record PathCount(string Path, long Count);
