using System.Buffers;

namespace ShadowProxy.Tests.Http;

/// <summary>Builds a multi-segment sequence, as a pipe hands out data that arrived in several reads.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary>Cuts <paramref name="data"/> into segments of the given sizes, cycling through them.</summary>
    public static ReadOnlySequence<byte> Of(byte[] data, params int[] sizes)
    {
        var first = new Segments(data.AsMemory(0, Math.Min(sizes[0], data.Length)), 0);
        Segments last = first;
        int offset = first.Memory.Length;
        for (int i = 1; offset < data.Length; i++)
        {
            int size = Math.Min(sizes[i % sizes.Length], data.Length - offset);
            var next = new Segments(data.AsMemory(offset, size), offset);
            last.Next = next;
            last = next;
            offset += size;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
