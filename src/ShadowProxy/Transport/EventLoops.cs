namespace ShadowProxy.Transport;

/// <summary>
/// The process's event loops, started on first use and never stopped (background threads), like the runtime's own
/// socket engine. SHADOWPROXY_IO_THREADS sets how many (default 1: on the 2-core benchmark box one loop carried the
/// most requests per CPU second, see bench/README.md).
/// </summary>
internal static class EventLoops
{
    public const string CountVariable = "SHADOWPROXY_IO_THREADS";

    private static readonly Lazy<EventLoop[]> Loops = new(Start);
    private static uint s_next;

    public static ReadOnlySpan<EventLoop> All => Loops.Value;

    /// <summary>The caller's own loop (so a backend connection stays with its client's), else the next in turn.</summary>
    public static EventLoop ForNewSocket()
    {
        if (EventLoop.Current is { } current)
        {
            return current;
        }

        EventLoop[] loops = Loops.Value;
        return loops[(int)(Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }

    private static EventLoop[] Start()
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable(CountVariable), out int configured) && configured > 0
            ? Math.Min(configured, Environment.ProcessorCount * 4)
            : 1;
        var loops = new EventLoop[count];
        for (int i = 0; i < count; i++)
        {
            loops[i] = new EventLoop(i);
        }

        return loops;
    }
}
