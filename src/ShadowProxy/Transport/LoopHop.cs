using System.Runtime.CompilerServices;

namespace ShadowProxy.Transport;

/// <summary>
/// Awaited, continues on the given loop's thread: at once when there is no loop or the caller is already on it, else
/// posted to it (<see cref="EventLoop.Post"/>). The continuation is the awaiting method's own, so a hop allocates
/// nothing beyond the queue's slot.
/// </summary>
internal readonly struct LoopHop(EventLoop? loop) : ICriticalNotifyCompletion
{
    private readonly EventLoop? _loop = loop;

    public bool IsCompleted => _loop is null || ReferenceEquals(EventLoop.Current, _loop);

    public LoopHop GetAwaiter() => this;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => _loop!.Post(continuation);

    public void UnsafeOnCompleted(Action continuation) => _loop!.Post(continuation);
}
