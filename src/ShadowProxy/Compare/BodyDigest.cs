using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Hashing;
using ShadowProxy.Http;

namespace ShadowProxy.Compare;

/// <summary>
/// Hashes a response's payload as it streams past, and, when bodies are compared as JSON, keeps a copy up to the
/// bound in a pooled buffer. Past the bound the copy is dropped and the hash alone compares. One per response.
/// </summary>
internal sealed class BodyDigest : IPayloadSink
{
    private const int InitialCapture = 4 * 1024;

    /// <summary>Hashers kept for reuse: each holds a few hundred bytes of state, and every response needs one.</summary>
    private const int PooledHashers = 1024;

    private static readonly ConcurrentQueue<XxHash3> Hashers = new();

    private XxHash3? _hash = Hashers.TryDequeue(out XxHash3? pooled) ? pooled : new XxHash3();
    private readonly BodyComparison _comparison;
    private readonly long _expectedLength;
    private byte[]? _captured;
    private int _capturedLength;
    private bool _capturing;
    private long _bytes;

    /// <param name="expectedLength">The Content-Length when known, else -1: a body known to be too large is never copied.</param>
    public BodyDigest(BodyComparison comparison, long expectedLength)
    {
        _comparison = comparison;
        _expectedLength = expectedLength;
        _capturing = comparison.ComparesJson && expectedLength <= comparison.JsonMaxBytes;
    }

    public void Append(ReadOnlySpan<byte> payload)
    {
        _bytes += payload.Length;
        _hash!.Append(payload);
        if (_capturing)
        {
            Capture(payload);
        }
    }

    public void Append(in ReadOnlySequence<byte> payload)
    {
        foreach (ReadOnlyMemory<byte> segment in payload)
        {
            Append(segment.Span);
        }
    }

    /// <summary>Ends the digest and returns the captured copy to the pool.</summary>
    /// <param name="whole">The body was read to its end; otherwise nothing about it can be compared.</param>
    public ResponseFacts Complete(TimeSpan? firstByte, bool whole)
    {
        ulong? fingerprint = null;
        if (whole && _capturing
            && JsonFingerprint.TryCompute(_captured.AsSpan(0, _capturedLength), _comparison.IgnoredUtf8, out ulong value))
        {
            fingerprint = value;
        }

        StopCapturing();
        ulong hash = _hash!.GetCurrentHashAsUInt64();
        ReturnHasher();
        return new ResponseFacts(firstByte, _bytes, hash, fingerprint, whole);
    }

    private void ReturnHasher()
    {
        XxHash3 hasher = _hash!;
        _hash = null;   // a second Complete would be a bug: it fails here instead of hashing into another response's state
        if (Hashers.Count < PooledHashers)
        {
            hasher.Reset();
            Hashers.Enqueue(hasher);
        }
    }

    private void Capture(ReadOnlySpan<byte> payload)
    {
        int needed = _capturedLength + payload.Length;
        if (needed > _comparison.JsonMaxBytes)
        {
            StopCapturing();
            return;
        }

        if (_captured is null || needed > _captured.Length)
        {
            int size = _expectedLength > 0 ? (int)_expectedLength : Math.Max(InitialCapture, (_captured?.Length ?? 0) * 2);
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Min(_comparison.JsonMaxBytes, Math.Max(needed, size)));
            if (_captured is not null)
            {
                _captured.AsSpan(0, _capturedLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_captured);
            }

            _captured = larger;
        }

        payload.CopyTo(_captured.AsSpan(_capturedLength));
        _capturedLength = needed;
    }

    private void StopCapturing()
    {
        _capturing = false;
        if (_captured is not null)
        {
            ArrayPool<byte>.Shared.Return(_captured);
            _captured = null;
        }
    }
}
