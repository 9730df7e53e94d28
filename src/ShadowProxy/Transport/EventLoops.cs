using System.Globalization;

namespace ShadowProxy.Transport;

/// <summary>
/// The process's event loops, started on first use and never stopped (background threads), like the runtime's own
/// socket engine. SHADOWPROXY_IO_THREADS sets how many take clients (default 1: on the 2-core benchmark box one loop
/// carried the most requests per CPU second, see bench/README.md). The shadow's copies run on a loop of their own, off
/// the clients' path, on the core one client loop leaves idle, up to <see cref="ShadowLoopBound"/> at once
/// (bench/README.md, eleventh and twelfth rounds); SHADOWPROXY_SHADOW_LOOP=off keeps them on their clients' loops.
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

    /// <summary>
    /// The loops the proxy starts, the client loops and the shadow's, read from the same variables as when they start:
    /// known before any of them is (the open-file budget, Hosting/DescriptorLimit, keeps their descriptors).
    /// </summary>
    public static int Count => ClientLoopCount() + (ShadowLoopWanted() ? 1 : 0);

    /// <summary>SHADOWPROXY_IO_THREADS, at most four per core; a value that is not a whole number above 0 means one.</summary>
    private static int ClientLoopCount() =>
        int.TryParse(Environment.GetEnvironmentVariable(CountVariable), out int configured) && configured > 0
            ? Math.Min(configured, Environment.ProcessorCount * 4)
            : 1;

    /// <summary>Unless turned off (off, 0 or false); anything else means on, with no error, as for SHADOWPROXY_IO_THREADS.</summary>
    private static bool ShadowLoopWanted() =>
        Environment.GetEnvironmentVariable(ShadowLoopVariable)?.Trim().ToLowerInvariant() is not ("off" or "0" or "false");

    private static EventLoop[] Start()
    {
        int count = ClientLoopCount();
        var loops = new EventLoop[count];
        for (int i = 0; i < count; i++)
        {
            loops[i] = new EventLoop(i.ToString(CultureInfo.InvariantCulture));
        }

        return loops;
    }

    private static LoopHandOver StartShadowLoop() => new(ShadowLoopWanted() ? new EventLoop("shadow") : null, ShadowLoopBound);
}
