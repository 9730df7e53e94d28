namespace ShadowProxy.Reporting;

/// <summary>
/// One parsed request line, in either format. <see cref="Url"/> points into the line (or the parser's scratch buffer
/// for an escaped json string), so an entry lives only as long as the line it came from.
/// </summary>
internal ref struct ReportEntry
{
    /// <summary>The request-target as logged: path and query.</summary>
    public ReadOnlySpan<byte> Url;

    /// <summary>0 when the line has none (an error, a timeout, a skipped shadow).</summary>
    public int ProductionStatus;

    /// <summary>0 when the line has none.</summary>
    public int ShadowStatus;

    /// <summary>Whole milliseconds: the logs carry seconds with three decimals.</summary>
    public long? ProductionMilliseconds;

    public long? ShadowMilliseconds;

    /// <summary>Shadow minus production.</summary>
    public long? DeltaMilliseconds;

    /// <summary>From json <c>body_match</c> (null included), else <c>diff</c> "body" (false) / "same" (true); null when the line does not say.</summary>
    public bool? BodyMatch;

    /// <summary>
    /// A side failed (json <c>diff</c> "production_error" or "shadow_error"): its body, even if read whole before the
    /// failure, is not compared.
    /// </summary>
    public bool SideFailed;

    /// <summary>The shadow got no copy on purpose (json <c>shadow_skipped</c>, or <c>diff</c> "skipped").</summary>
    public bool ShadowSkipped;

    public bool IsJson;
}
