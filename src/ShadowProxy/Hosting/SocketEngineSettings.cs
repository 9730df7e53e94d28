namespace ShadowProxy.Hosting;

/// <summary>
/// How .NET's socket engine runs our continuations. By default each socket event is handed from the epoll thread to
/// a thread-pool worker; a proxy does a few microseconds of work per event, so that hand-off (a wake-up, a context
/// switch, then workers spinning for more) costs more than the work itself. Measured on the benchmark's 2-core box,
/// close-mode requests (bench/README.md): 0.47 CPU ms each through the thread pool, 0.33 ms inline on two event
/// threads, 0.21 ms inline on one (nginx-mirror: 0.16 ms). One thread does best because a request's three sockets
/// are spread over the event threads round-robin: with two, every request wakes both.
/// The proxy's continuations never block (request lines are queued, and so are diagnostics), so running them on
/// the event thread is safe, as in an nginx worker.
/// </summary>
internal static class SocketEngineSettings
{
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    public const string ThreadCount = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    /// <summary>
    /// Must run before the first socket is created: the runtime reads both variables once. Settings already in the
    /// environment are left as they are (INLINE_COMPLETIONS=0 goes back to the thread pool; THREAD_COUNT=N adds
    /// event threads for a load one core cannot carry).
    /// </summary>
    public static void Apply() => Apply(Environment.GetEnvironmentVariable, Environment.SetEnvironmentVariable);

    /// <summary>The same, on an environment of the caller's (tests).</summary>
    public static void Apply(Func<string, string?> get, Action<string, string> set)
    {
        foreach ((string name, string value) in (ReadOnlySpan<(string, string)>)[(InlineCompletions, "1"), (ThreadCount, "1")])
        {
            if (get(name) is null)
            {
                set(name, value);
            }
        }
    }
}
