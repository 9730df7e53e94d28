namespace ShadowProxy.Transport;

/// <summary>What became of an operation that found its socket not ready.</summary>
internal enum ParkResult
{
    Parked,
    EventCameIn,
    Disposed,
    Canceled,
}
