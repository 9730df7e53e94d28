namespace ShadowProxy.Http;

/// <summary>The outcome of <see cref="MessageHeadReader.ReadAsync"/>.</summary>
internal readonly record struct HeadRead(HeadReadStatus Status, int Length, long FirstByteTimestamp);
