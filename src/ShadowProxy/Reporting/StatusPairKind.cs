namespace ShadowProxy.Reporting;

/// <summary>What a status pair says about the shadow: the chart's colour, and what counts as a shadow failure.</summary>
internal enum StatusPairKind
{
    Same,

    /// <summary>Production succeeded (2xx/3xx); the shadow answered otherwise or not at all.</summary>
    ShadowFailed,

    /// <summary>Any other difference.</summary>
    Differs,

    /// <summary>The shadow got no copy on purpose (sampling, filters, overload): nothing to compare.</summary>
    ShadowSkipped,
}
