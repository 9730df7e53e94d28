using System.Buffers;

namespace ShadowProxy.Proxy;

/// <summary>
/// The buffers a head is read into, which must hold the largest head allowed: one per client connection and per
/// backend response in flight. ArrayPool.Shared keeps only about 32 arrays of a size per core, so under a few dozen
/// concurrent requests most of these 32-64 KiB rentals became new allocations (and gen1/gen2 work) on every request.
/// This pool keeps what the peak concurrency needs.
/// </summary>
internal static class HeadScratch
{
    public static ArrayPool<byte> Pool { get; } = ArrayPool<byte>.Create(maxArrayLength: 64 * 1024, maxArraysPerBucket: 4096);
}
