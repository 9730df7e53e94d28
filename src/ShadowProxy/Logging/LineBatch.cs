using System.Buffers;

namespace ShadowProxy.Logging;

/// <summary>
/// Request lines formatted once and handed to every output (<see cref="LineOutput"/>): whole lines, each ended by
/// '\n'. The bytes are a pooled array that stdout and --log-file read, each at its own pace; it goes back to the pool
/// when the last of them has written (or dropped) the batch, so batching costs no new array per batch.
/// </summary>
internal sealed class LineBatch
{
    private readonly byte[] _array;
    private readonly int _length;
    private int _holders;

    private LineBatch(byte[] array, int length, int lines, int holders)
    {
        _array = array;
        _length = length;
        Lines = lines;
        _holders = holders;
    }

    public ReadOnlyMemory<byte> Bytes => _array.AsMemory(0, _length);

    public int Lines { get; }

    /// <summary>A copy of <paramref name="lines"/> lines in a pooled array, to be released once by each of <paramref name="holders"/>.</summary>
    public static LineBatch Copy(ReadOnlySpan<byte> bytes, int lines, int holders)
    {
        byte[] array = ArrayPool<byte>.Shared.Rent(bytes.Length);
        bytes.CopyTo(array);
        return new LineBatch(array, bytes.Length, lines, holders);
    }

    /// <summary>This holder is done with the bytes; after the last one, they are gone.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _holders) == 0)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }
    }
}
