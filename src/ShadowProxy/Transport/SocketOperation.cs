using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace ShadowProxy.Transport;

/// <summary>
/// One direction's pending operation on a <see cref="LoopSocket"/> (a receive, a wait for readiness, a send, a connect), reused from one
/// operation to the next so that waiting allocates nothing. Completes inline: the continuation runs on the thread
/// that saw the event, as a proxy's continuations never block.
/// </summary>
internal sealed class SocketOperation : IValueTaskSource<int>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<int> _core;
    private CancellationTokenRegistration _cancellation;
    private bool _streamErrors;

    public SocketOperation(LoopSocket socket, SocketDirection direction)
    {
        Socket = socket;
        Direction = direction;
    }

    public LoopSocket Socket { get; }

    public SocketDirection Direction { get; }

    /// <summary>What is left to receive into or to send (a connect has none).</summary>
    public Memory<byte> Buffer { get; set; }

    public bool IsConnect { get; set; }

    /// <summary>A receive-side wait for readiness only: settled by the next event, with no buffer and no receive.</summary>
    public bool IsReadinessWait { get; set; }

    public CancellationToken CancellationToken { get; private set; }

    /// <summary>The operation has waited for an event at least once (a receive: CancelReceive may have looked for it).</summary>
    public bool HasWaited { get; set; }

    /// <summary>The socket's count of CancelReceive calls when this receive last began to wait.</summary>
    public int CancelsWhenParked { get; set; }

    public short Version => _core.Version;

    public void Prepare(Memory<byte> buffer, bool streamErrors, CancellationToken cancellationToken)
    {
        _cancellation.Unregister();   // normally done at completion; left only if the last operation threw on the way
        _cancellation = default;
        _core.Reset();
        Buffer = buffer;
        CancellationToken = cancellationToken;
        _streamErrors = streamErrors;
        IsConnect = false;
        IsReadinessWait = false;
        HasWaited = false;
    }

    /// <summary>Called before the operation is parked: a cancellation from then on takes it back from the socket.</summary>
    public void WatchCancellation()
    {
        if (CancellationToken.CanBeCanceled && _cancellation == default)
        {
            _cancellation = CancellationToken.UnsafeRegister(
                static (state, token) => ((SocketOperation)state!).Socket.Cancel((SocketOperation)state!, token), this);
        }
    }

    public void Succeed(int result)
    {
        Release();
        _core.SetResult(result);
    }

    public void Fail(Exception error)
    {
        Release();
        _core.SetException(_streamErrors && error is SocketException socketError ? SocketErrors.StreamFailure(socketError) : error);
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    public int GetResult(short token) => _core.GetResult(token);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    private void Release()
    {
        Buffer = default;
        // Unregister, not Dispose: Dispose would wait for a callback running on another thread (a deadlock if that
        // callback waits for the socket's gate held here). A late callback checks the token it was registered for.
        _cancellation.Unregister();
        _cancellation = default;
    }
}
