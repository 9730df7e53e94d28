namespace ShadowProxy.Hosting;

/// <summary>
/// Runtime switches that only exist as environment variables and are read once, at first use: set at the top of
/// Main, before the first socket or pooled buffer, unless the environment already has them (an operator's setting
/// wins). Each one measured on the benchmark's 2-core box, close-mode requests (bench/README.md).
/// </summary>
internal static class RuntimeTuning
{
    /// <summary>
    /// By default each socket event is handed from the epoll thread to a thread-pool worker; a proxy does a few
    /// microseconds of work per event, so that hand-off (a wake-up, a context switch, workers spinning for more) costs
    /// more than the work. Inline, the continuations run on the event thread, as in an nginx worker. Safe because the
    /// proxy's continuations never block: request lines and diagnostics are queued. 0 goes back to the thread pool.
    /// </summary>
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// One event thread: a request's three sockets are spread over the event threads round-robin, so with two every
    /// request wakes both (0.33 CPU ms per request against 0.21 with one). Raise it for a load one core cannot carry.
    /// </summary>
    public const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>
    /// The shared buffer pool keeps 32 arrays of each size per core by default; with one event thread serving many
    /// connections more are out at once, and every one past the limit became garbage (and a new, zeroed array).
    /// </summary>
    public const string PooledArraysPerSize = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    private static readonly (string Name, string Value)[] Defaults =
    [
        (InlineCompletions, "1"),
        (ThreadCount, "1"),
        (PooledArraysPerSize, "512"),
    ];

    public static void Apply() => Apply(Environment.GetEnvironmentVariable, Environment.SetEnvironmentVariable);

    /// <summary>The same, on an environment of the caller's (tests).</summary>
    public static void Apply(Func<string, string?> get, Action<string, string> set)
    {
        foreach ((string name, string value) in Defaults)
        {
            if (get(name) is null)
            {
                set(name, value);
            }
        }
    }
}
