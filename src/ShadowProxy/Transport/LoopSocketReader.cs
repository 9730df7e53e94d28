using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace ShadowProxy.Transport;

/// <summary>
/// A <see cref="PipeReader"/> that receives straight from a <see cref="LoopSocket"/> into one pooled, contiguous
/// buffer: no Stream in between, no buffer segments, and a read that has to wait completes through this object
/// itself, so reading allocates nothing. The buffer is compacted or grown only when a caller has examined all of it
/// and needs more (a head that spans reads), and goes back to the pool whenever everything in it is consumed. A read
/// with nothing buffered first waits for the socket to be readable, with no buffer (the buffer is rented once bytes
/// are there), so an idle kept-alive connection holds none. Receive errors surface as IOException, as from a
/// Stream-based reader.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2012:Use ValueTasks correctly", Justification = "Each receive's ValueTask is consumed once: at once when completed, else by its continuation (OnReceived).")]
internal sealed class LoopSocketReader : PipeReader, IValueTaskSource<ReadResult>
{
    private const int Idle = 0;
    private const int CancelRequested = 1;

    private readonly LoopSocket _socket;
    private readonly int _bufferSize;
    private readonly int _minimumReadSize;
    private Action? _onReceived;   // made on the first read that waits: a client's reads often never do
    private Action? _onReadable;
    private byte[]? _buffer;
    private int _start;            // the first unconsumed byte
    private int _end;              // one past the last received byte
    private bool _examinedAll;     // the caller has looked at everything up to _end: the next read must bring more
    private bool _ended;           // the peer closed its side
    private bool _completed;
    private int _cancelPending;    // CancelPendingRead: the pending read, or else the next one, returns IsCanceled
    private ManualResetValueTaskSourceCore<ReadResult> _core;
    private ValueTask<int> _receiving;
    private ValueTask _readable;
    private volatile bool _receivePending;   // a receive waits for the socket, into the buffer
    private CancellationToken _readToken;

    public LoopSocketReader(LoopSocket socket, int bufferSize, int minimumReadSize)
    {
        _socket = socket;
        _bufferSize = bufferSize;
        _minimumReadSize = minimumReadSize;
    }

    /// <summary>Whether a pooled buffer is held now (for tests: a read waiting on a quiet peer holds none).</summary>
    internal bool HoldsBuffer => _buffer is not null;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (TakeCancelRequest())
        {
            return new ValueTask<ReadResult>(Current(canceled: true));
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<ReadResult>(cancellationToken);
        }

        if (HasNews())
        {
            return new ValueTask<ReadResult>(Current(canceled: false));
        }

        while (_buffer is null)
        {
            // Nothing buffered: wait for bytes without a buffer (completes at once unless the socket was drained).
            ValueTask readable;
            try
            {
                readable = _socket.WaitReadableAsync(cancellationToken, streamErrors: true);
            }
            catch (Exception ex)
            {
                return ValueTask.FromException<ReadResult>(ex);
            }

            if (!readable.IsCompleted)
            {
                _core.Reset();
                _readToken = cancellationToken;
                ParkUntilReadable(readable);
                return new ValueTask<ReadResult>(this, _core.Version);
            }

            try
            {
                readable.GetAwaiter().GetResult();
                // Tried at once, not parked: a socket taken for readable without an event (a new client, assumed to
                // have sent its request) may have nothing yet, and the wait for it must not hold the buffer.
                int received = ReceiveWithoutParking();
                if (received >= 0)
                {
                    Received(received);
                    return new ValueTask<ReadResult>(Current(canceled: false));
                }
            }
            catch (Exception ex)
            {
                return ValueTask.FromException<ReadResult>(ex);
            }

            // Nothing came: the wait above parks now (the try cleared the readiness), bufferless.
        }

        ValueTask<int> receiving;
        _receivePending = true;   // before the receive can park on the buffer: Complete must not pool it from then on
        try
        {
            receiving = Receive(cancellationToken);
        }
        catch (Exception ex)
        {
            _receivePending = false;
            return ValueTask.FromException<ReadResult>(ex);
        }

        if (receiving.IsCompleted)
        {
            _receivePending = false;
            try
            {
                Received(receiving.GetAwaiter().GetResult());
            }
            catch (Exception ex)
            {
                return ValueTask.FromException<ReadResult>(ex);
            }

            return new ValueTask<ReadResult>(Current(canceled: false));
        }

        _core.Reset();
        _readToken = cancellationToken;
        ParkReceive(receiving);

        return new ValueTask<ReadResult>(this, _core.Version);
    }

    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (TakeCancelRequest())
        {
            result = Current(canceled: true);
            return true;
        }

        if (HasNews())
        {
            result = Current(canceled: false);
            return true;
        }

        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        int consumedAt = IndexOf(consumed);
        int examinedAt = IndexOf(examined);
        if (consumedAt < _start || examinedAt < consumedAt || examinedAt > _end)
        {
            throw new InvalidOperationException("AdvanceTo was given a position outside the unconsumed bytes.");
        }

        _start = consumedAt;
        _examinedAll = examinedAt == _end;
        if (_start == _end)
        {
            ReturnBuffer();
        }
    }

    public override void CancelPendingRead()
    {
        Volatile.Write(ref _cancelPending, CancelRequested);
        _socket.CancelReceive();
    }

    public override void Complete(Exception? exception = null)
    {
        if (!_completed)
        {
            _completed = true;
            Interlocked.MemoryBarrier();   // see ReceiveOnLoop: the loop's thread may be about to rent
            if (_receivePending)
            {
                // A parked receive still holds it: it must not go back to the pool. Nor may a buffer the loop's thread
                // rents meanwhile, so the field is not read again here (the receive's end lets go of what it holds).
                _buffer = null;
                ClearPositions();
            }
            else
            {
                ReturnBuffer();
            }
        }
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Consumes a CancelPendingRead, if one came; a plain read first, so that a read costs no interlocked exchange.</summary>
    private bool TakeCancelRequest() =>
        Volatile.Read(ref _cancelPending) == CancelRequested && Interlocked.Exchange(ref _cancelPending, Idle) == CancelRequested;

    /// <summary>Bytes the caller has not examined yet, or the end of the stream, can be returned without receiving.</summary>
    private bool HasNews() => _ended || (_end > _start && !_examinedAll);

    private ReadResult Current(bool canceled)
    {
        ReadOnlySequence<byte> bytes = _buffer is null ? ReadOnlySequence<byte>.Empty : new(_buffer, _start, _end - _start);
        return new ReadResult(bytes, canceled, isCompleted: _ended);
    }

    private ValueTask<int> Receive(CancellationToken cancellationToken)
    {
        MakeRoom();
        return _socket.ReceiveAsync(_buffer.AsMemory(_end), cancellationToken, streamErrors: true);
    }

    private void Received(int count)
    {
        if (count == 0)
        {
            _ended = true;
        }
        else
        {
            _end += count;
            _examinedAll = false;
        }
    }

    /// <summary>The continuation of a receive that had to wait (on the thread that saw the socket's event).</summary>
    private void OnReceived()
    {
        ValueTask<int> receiving = _receiving;
        _receiving = default;
        _receivePending = false;
        try
        {
            Received(receiving.GetAwaiter().GetResult());
            _core.SetResult(Current(canceled: false));
        }
        catch (OperationCanceledException) when (!_readToken.IsCancellationRequested)
        {
            if (TakeCancelRequest())
            {
                _core.SetResult(Current(canceled: true));
                return;
            }

            // A CancelPendingRead that came late, after its own read had ended, took this one back: receive again.
            ReceiveOnLoop(afterReadiness: false);
        }
        catch (Exception ex)
        {
            _core.SetException(ex);
        }
    }

    /// <summary>The continuation of a wait for readability (on the thread that saw the socket's event).</summary>
    private void OnReadable()
    {
        ValueTask readable = _readable;
        _readable = default;
        try
        {
            readable.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (!_readToken.IsCancellationRequested)
        {
            if (TakeCancelRequest())
            {
                _core.SetResult(Current(canceled: true));
                return;
            }

            AwaitReadable();   // a late CancelPendingRead took this wait back: wait again, still without a buffer
            return;
        }
        catch (Exception ex)
        {
            _core.SetException(ex);
            return;
        }

        ReceiveOnLoop(afterReadiness: true);
    }

    private void AwaitReadable()
    {
        ValueTask readable;
        try
        {
            readable = _socket.WaitReadableAsync(_readToken, streamErrors: true);
        }
        catch (Exception ex)
        {
            _core.SetException(ex);
            return;
        }

        if (readable.IsCompleted)
        {
            _readable = readable;
            OnReadable();
            return;
        }

        ParkUntilReadable(readable);
    }

    /// <summary>
    /// A receive started by a continuation, for the read that waits: after a readiness wait (it usually finds bytes;
    /// after a stale event with nothing to read the read waits for readability again, without a buffer), or again
    /// after a late cancel took a parked receive back.
    /// </summary>
    private void ReceiveOnLoop(bool afterReadiness)
    {
        // Marked pending before Complete is looked for, as Complete marks itself before it looks at this flag (both
        // with a full fence): either this sees the reader completed and rents nothing, or Complete sees the receive
        // pending and leaves the buffer out of the pool.
        _receivePending = true;
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _completed))
        {
            _receivePending = false;
            _core.SetException(new ObjectDisposedException(nameof(LoopSocketReader)));
            return;
        }

        if (afterReadiness && _buffer is null)
        {
            TryReceiveAfterReadiness();
            return;
        }

        ValueTask<int> receiving;
        try
        {
            receiving = Receive(_readToken);
        }
        catch (Exception ex)
        {
            _receivePending = false;
            _core.SetException(ex);
            return;
        }

        if (!receiving.IsCompleted)
        {
            ParkReceive(receiving);
            return;
        }

        _receivePending = false;
        try
        {
            Received(receiving.GetAwaiter().GetResult());
        }
        catch (Exception ex)
        {
            _core.SetException(ex);
            return;
        }

        _core.SetResult(Current(canceled: false));
    }

    /// <summary>
    /// ReceiveOnLoop's try, not parked: an edge that announced bytes a receive had already taken finds nothing, and an
    /// idle read must not then hold the buffer until the peer's next bytes (or its timeout).
    /// </summary>
    private void TryReceiveAfterReadiness()
    {
        int received;
        try
        {
            received = ReceiveWithoutParking();
        }
        catch (Exception ex)
        {
            _receivePending = false;
            _core.SetException(ex);
            return;
        }

        _receivePending = false;
        if (received < 0)
        {
            // Recurses only if another edge came since the try; edges come on the thread running this: at most once.
            AwaitReadable();
            return;
        }

        Received(received);
        _core.SetResult(Current(canceled: false));
    }

    /// <summary>
    /// A receive into a freshly rented buffer that never parks: the bytes received (0 at the end of the stream), or -1
    /// when none have come, with the buffer given back, so that the read waits for readability without one. Given back
    /// only if a Complete meanwhile (with a receive marked pending) has not dropped it, leaving its return to this thread.
    /// </summary>
    private int ReceiveWithoutParking()
    {
        MakeRoom();
        byte[] buffer = _buffer!;
        int received = _socket.ReceiveIfReady(buffer.AsSpan(_end), streamErrors: true);
        if (received < 0 && ReferenceEquals(Interlocked.CompareExchange(ref _buffer, null, buffer), buffer))
        {
            ArrayPool<byte>.Shared.Return(buffer);   // positions stay 0: MakeRoom started the fresh buffer at 0
        }

        return received;
    }

    private void ParkReceive(ValueTask<int> receiving)
    {
        _receiving = receiving;
        receiving.GetAwaiter().UnsafeOnCompleted(_onReceived ??= OnReceived);
        CancelIfRequested();
    }

    private void ParkUntilReadable(ValueTask readable)
    {
        _readable = readable;
        readable.GetAwaiter().UnsafeOnCompleted(_onReadable ??= OnReadable);
        CancelIfRequested();
    }

    /// <summary>
    /// After parking: a CancelPendingRead that ran while the wait was being parked (its CancelReceive found no
    /// operation to take) takes this one back now.
    /// </summary>
    private void CancelIfRequested()
    {
        if (Volatile.Read(ref _cancelPending) == CancelRequested)
        {
            _socket.CancelReceive();
        }
    }

    /// <summary>
    /// At least the minimum read size free after the received bytes: the consumed front is reclaimed first, and the
    /// buffer doubles only when unconsumed bytes fill it (a caller that needs more than it holds, such as a long head).
    /// </summary>
    private void MakeRoom()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(_bufferSize);
            _start = _end = 0;
            return;
        }

        if (_buffer.Length - _end >= _minimumReadSize)
        {
            return;
        }

        int unconsumed = _end - _start;
        byte[] target = unconsumed + _minimumReadSize <= _buffer.Length ? _buffer : ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
        Buffer.BlockCopy(_buffer, _start, target, 0, unconsumed);
        if (!ReferenceEquals(target, _buffer))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = target;
        }

        (_start, _end) = (0, unconsumed);
    }

    private int IndexOf(SequencePosition position)
    {
        if (_buffer is null)
        {
            return 0;   // nothing is buffered: the caller was handed an empty sequence
        }

        if (!ReferenceEquals(position.GetObject(), _buffer))
        {
            throw new InvalidOperationException("AdvanceTo was given a position from another buffer.");
        }

        // An array-backed sequence may keep a flag in the index's top bit; the index itself is below it.
        return position.GetInteger() & int.MaxValue;
    }

    private void ReturnBuffer()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }

        ClearPositions();
    }

    private void ClearPositions()
    {
        _start = _end = 0;
        _examinedAll = false;
    }
}
