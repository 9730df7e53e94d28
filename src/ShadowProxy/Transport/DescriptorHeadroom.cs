namespace ShadowProxy.Transport;

/// <summary>
/// Keeps descriptors free for the runtime while the proxy runs. The runtime needs some at any moment: a thread-pool
/// worker takes three to start (CoreCLR reads /sys/devices/system/cpu/possible and makes a pipe for it), and .NET lets
/// a worker that cannot start end the process ("Out of memory."); the pool starts one whenever its idle ones have
/// exited (after 20 s) and work comes. At start the proxy fits its clients into the open-file limit
/// (Hosting/DescriptorLimit), but the limit can be lowered while it runs (`prlimit --pid`), or descriptors used up
/// by something else: then the proxy's own sockets would take the last ones. So a socket the proxy gets (a client
/// accepted, a backend connection opened) that leaves fewer than the headroom free is given up at once: the client
/// gets 503, the backend connection fails as one that could not be made.
/// Descriptors are numbered lowest-free first, so a new one's number tells how full the table is without a system
/// call: every lower number is in use. (Free numbers above it are counted as free; a table with holes looks emptier
/// than it is, never fuller.)
/// </summary>
internal static unsafe class DescriptorHeadroom
{
    /// <summary>Free descriptors below which no new client is taken: room for the runtime and for the backend connections of clients already taken.</summary>
    public const int ForClients = 32;

    /// <summary>Free descriptors below which no backend connection is opened: the runtime's own share (a few thread starts at once, an assembly load, a log file).</summary>
    public const int ForBackends = 16;

    private static Action<int, long, int>? s_short;

    /// <summary>
    /// Said when a socket is given up for want of descriptors (on the thread that got it, which must not block):
    /// its descriptor number, the soft limit, and the headroom it fell into. Set by the proxy server when it is made;
    /// taken back by it when it is disposed (<see cref="Forget"/>).
    /// </summary>
    public static Action<int, long, int>? Short
    {
        get => Volatile.Read(ref s_short);
        set => Volatile.Write(ref s_short, value);
    }

    /// <summary>
    /// Stops saying shortages through <paramref name="report"/>, if it is still the one set: a disposed server's
    /// logger is not kept for the process's life, nor told of sockets that are not its own.
    /// </summary>
    public static void Forget(Action<int, long, int> report) => Interlocked.CompareExchange(ref s_short, null, report);

    /// <summary>How old a reading of the limit a backend socket may go by (<see cref="IsShortForBackend"/>).</summary>
    public const int BackendReadingMilliseconds = 10;

    private static long s_softLimit = -1;   // the last reading; -1 when none yet, or unreadable, or unlimited
    private static long s_readAt;           // Environment.TickCount64 of it

    /// <summary>
    /// Whether a client's <paramref name="descriptor"/>, just returned by accept4, leaves fewer than
    /// <see cref="ForClients"/> free; says so if it does. Reads the limit each time (one getrlimit): a limit lowered a
    /// moment ago, under load, is what this is for, and a reading even 100 ms old let a burst of clients take the last
    /// descriptors in the tests.
    /// </summary>
    public static bool IsShortForClient(int descriptor) => IsShort(descriptor, ForClients, ReadLimit());

    /// <summary>
    /// Whether a backend socket's <paramref name="descriptor"/>, just returned by socket(), leaves fewer than
    /// <see cref="ForBackends"/> free; says so if it does. Uses the last reading while it is under
    /// <see cref="BackendReadingMilliseconds"/> old: in close mode every request's accept has just read it, so its two
    /// backend sockets cost no system call, and the client check above has already kept room for them.
    /// </summary>
    public static bool IsShortForBackend(int descriptor)
    {
        long soft = Volatile.Read(ref s_softLimit);
        if (Environment.TickCount64 - Volatile.Read(ref s_readAt) >= BackendReadingMilliseconds)
        {
            soft = ReadLimit();
        }

        return IsShort(descriptor, ForBackends, soft);
    }

    private static long ReadLimit()
    {
        Libc.ResourceLimit limit;
        long soft = Libc.GetResourceLimit(Libc.OpenFilesResource, &limit) != 0 || limit.Soft > int.MaxValue
            ? -1   // unreadable, or unlimited: numbers are ints
            : (long)limit.Soft;
        Volatile.Write(ref s_softLimit, soft);
        Volatile.Write(ref s_readAt, Environment.TickCount64);
        return soft;
    }

    private static bool IsShort(int descriptor, int headroom, long soft)
    {
        // Numbers 0 .. descriptor are in use, so at most soft - descriptor - 1 are free.
        if (soft < 0 || soft - descriptor - 1 >= headroom)
        {
            return false;
        }

        Short?.Invoke(descriptor, soft, headroom);
        return true;
    }
}
