using ShadowProxy.Compare;
using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;

namespace ShadowProxy.Logging;

/// <summary>Everything one request line says: written once both backends have finished, failed or timed out.</summary>
/// <param name="Timestamp">Wall-clock time of the request's first byte.</param>
/// <param name="Url">The request-target exactly as the client sent it.</param>
internal readonly record struct RequestRecord(
    DateTimeOffset Timestamp,
    string Method,
    string Url,
    BackendResult Production,
    BackendResult Shadow)
{
    /// <summary>Why the request was not mirrored, or <see cref="ShadowSkip.None"/>.</summary>
    public ShadowSkip ShadowSkipped { get; init; }

    /// <summary>Status and body match, and the one-word diff.</summary>
    public Comparison Comparison => Comparison.Of(Production, Shadow, ShadowSkipped);
}
