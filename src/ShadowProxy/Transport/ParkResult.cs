namespace ShadowProxy.Transport;

/// <summary>What became of an operation that found its socket not ready.</summary>
internal enum ParkResult
{
    Parked,
    EventCameIn,
    Disposed,
    Canceled,

    /// <summary>A CancelReceive came while an event was retrying the receive.</summary>
    TakenBack,
}
