namespace ShadowProxy.Logging;

/// <summary>The request-line formats of the contract.</summary>
internal enum LineFormat
{
    /// <summary>em-proxy's six space-separated fields.</summary>
    Text,

    /// <summary>One flat JSON object per line.</summary>
    Json,
}
