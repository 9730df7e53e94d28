namespace ShadowProxy.Http;

/// <summary>The outcome of <see cref="MessageHeadReader.ReadAsync"/>.</summary>
/// <param name="Length">
/// The head's length when <see cref="HeadReadStatus.Complete"/>; the bytes of the head that had arrived when
/// <see cref="HeadReadStatus.Truncated"/> (a backend that sent part of an answer has seen the request); else 0.
/// </param>
/// <param name="Grown">
/// When the head did not fit the caller's scratch (or the scratch was empty): an array from the caller's pool that
/// holds it. The caller returns its old scratch, if it had one, and keeps this one.
/// </param>
internal readonly record struct HeadRead(HeadReadStatus Status, int Length, long FirstByteTimestamp, byte[]? Grown = null)
{
    /// <summary>The failed read that cut a <see cref="HeadReadStatus.Truncated"/> head, when the caller asked for it (failureCutsHead); null when the stream ended.</summary>
    public Exception? Failure { get; init; }
}
