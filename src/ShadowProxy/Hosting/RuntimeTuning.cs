namespace ShadowProxy.Hosting;

/// <summary>
/// Runtime switches that only exist as environment variables and are read once, at first use: set at the top of
/// Main, before the first pooled buffer, unless the environment already has them (an operator's setting wins).
/// Measured on the benchmark's 2-core box, close-mode requests (bench/README.md). The proxy's sockets do not need
/// the runtime's socket switches: they run on event loops of their own (Transport/EventLoops.cs).
/// </summary>
internal static class RuntimeTuning
{
    /// <summary>
    /// The shared buffer pool keeps 32 arrays of each size per core by default; with one event loop serving many
    /// connections more are out at once, and every one past the limit became garbage (and a new, zeroed array).
    /// </summary>
    public const string PooledArraysPerSize = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    private static readonly (string Name, string Value)[] Defaults =
    [
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
