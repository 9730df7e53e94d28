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
    BackendResult Shadow);
