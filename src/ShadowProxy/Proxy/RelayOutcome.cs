using ShadowProxy.Http;

namespace ShadowProxy.Proxy;

/// <summary>What reading one backend response produced.</summary>
/// <param name="StatusCode">The final status, 0 if no final head was read.</param>
/// <param name="Bytes">Bytes read from the backend, heads included.</param>
/// <param name="Error">Why the response is incomplete, or <see cref="BackendError.None"/>.</param>
/// <param name="Body">How the final response was framed.</param>
/// <param name="ClientWritten">Some of the final response (not only interim ones) already reached the client: an error can no longer be answered with a status.</param>
/// <param name="ClientFailed">Writing to the client failed: the client went away.</param>
/// <param name="AnnouncedClose">The client was told its connection closes after this response.</param>
/// <param name="LastReadTimestamp">When the backend's last bytes arrived: the end of a complete response.</param>
/// <param name="BackendWantsClose">The backend's final head says it closes after this response: its connection cannot be reused.</param>
internal readonly record struct RelayOutcome(
    int StatusCode,
    long Bytes,
    BackendError Error,
    BodyKind Body,
    bool ClientWritten,
    bool ClientFailed,
    bool AnnouncedClose,
    long LastReadTimestamp,
    bool BackendWantsClose)
{
    /// <summary>Time to first byte, payload size and hash of the final response.</summary>
    public Compare.ResponseFacts Facts { get; init; }

    /// <summary>The connection failed before the backend sent a byte: what a stale pooled connection looks like.</summary>
    public bool LostBeforeAnswer => Error == BackendError.Reset && Bytes == 0;
}

