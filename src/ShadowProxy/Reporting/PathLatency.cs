namespace ShadowProxy.Reporting;

/// <summary>A path's request count and the percentiles of its times and delta.</summary>
internal sealed record PathLatency(string Path, long Requests, LatencySummary Production, LatencySummary Shadow, LatencySummary Delta);
