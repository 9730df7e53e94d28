using System.Globalization;

namespace ShadowProxy.Transport;

/// <summary>
/// The process's event loops, started on first use and never stopped (background threads), like the runtime's own
/// socket engine. SHADOWPROXY_IO_THREADS sets how many take clients (default 1: on the 2-core benchmark box one loop
/// carried the most requests per CPU second, see bench/README.md). SHADOWPROXY_SHADOW_LOOP=on runs the shadow's copies
/// on a loop of their own, off the clients' path, on the core one client loop leaves idle: more requests per second on
/// a 2-core box, but with no back-pressure that loop can fall behind under overload (bench/README.md, eleventh round),
/// so it is off by default.
/// </summary>
internal static class EventLoops
{
    public const string CountVariable = "SHADOWPROXY_IO_THREADS";

    public const string ShadowLoopVariable = "SHADOWPROXY_SHADOW_LOOP";

    /// <summary>
    /// Copies on the shadow's loop at most; past it a copy runs on its client's loop. Unbounded, that loop fell tens of
    /// thousands of copies behind under overload; 64 (a little over the benchmark's 50 clients) kept every copy and
    /// its memory in hand, and its throughput (bench/README.md, twelfth round).
    /// </summary>
    public const int ShadowLoopBound = 64;

    private static readonly Lazy<EventLoop[]> Loops = new(Start);
    private static readonly Lazy<LoopHandOver> ShadowLoop = new(StartShadowLoop);
    private static uint s_next;

    /// <summary>The loops that take clients (and their production connections).</summary>
    public static ReadOnlySpan<EventLoop> All => Loops.Value;

    /// <summary>
    /// The caller's own loop (so a production connection stays with its client's, and a shadow connection, opened on
    /// the shadow's loop, with it), else the next client loop in turn.
    /// </summary>
    public static EventLoop ForNewSocket()
    {
        if (EventLoop.Current is { } current)
        {
            return current;
        }

        EventLoop[] loops = Loops.Value;
        return loops[(int)(Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }

    /// <summary>Hands shadow copies to the shadow's loop, when there is one, while it has room.</summary>
    public static LoopHandOver ShadowHandOver => ShadowLoop.Value;

    private static EventLoop[] Start()
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable(CountVariable), out int configured) && configured > 0
            ? Math.Min(configured, Environment.ProcessorCount * 4)
            : 1;
        var loops = new EventLoop[count];
        for (int i = 0; i < count; i++)
        {
            loops[i] = new EventLoop(i.ToString(CultureInfo.InvariantCulture));
        }

        return loops;
    }

    /// <summary>Only when turned on (on, 1 or true); anything else means off, with no error, as for SHADOWPROXY_IO_THREADS.</summary>
    private static LoopHandOver StartShadowLoop() =>
        new(Environment.GetEnvironmentVariable(ShadowLoopVariable)?.Trim().ToLowerInvariant() is "on" or "1" or "true"
            ? new EventLoop("shadow")
            : null,
            ShadowLoopBound);
}
