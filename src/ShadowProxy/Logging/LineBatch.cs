namespace ShadowProxy.Logging;

/// <summary>
/// Request lines formatted once and handed to every output (<see cref="LineOutput"/>): whole lines, each ended by
/// '\n'. Immutable, so stdout and --log-file read the same bytes, each at its own pace.
/// </summary>
internal readonly record struct LineBatch(ReadOnlyMemory<byte> Bytes, int Lines);
