namespace ShadowProxy.Proxy;

/// <summary>How one backend answered one request.</summary>
/// <param name="StatusCode">The final status, or 0 when none was read.</param>
/// <param name="Elapsed">From the request's first byte to the end of the whole response; null unless the response was read whole.</param>
/// <param name="Bytes">Response bytes received, heads included.</param>
/// <param name="Error">Why the response is missing or incomplete.</param>
internal readonly record struct BackendResult(int StatusCode, TimeSpan? Elapsed, long Bytes, BackendError Error)
{
    /// <summary>Time to first byte, payload size and hash: what the two answers are compared by.</summary>
    public Compare.ResponseFacts Facts { get; init; }

    public static BackendResult Failed(BackendError error, int statusCode = 0, long bytes = 0) => new(statusCode, null, bytes, error);
}
