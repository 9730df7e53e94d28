using Microsoft.Extensions.Logging;
using ShadowProxy.Transport;

namespace ShadowProxy.Hosting;

/// <summary>
/// The process's open-file limit (RLIMIT_NOFILE) and the clients that fit in it. At the limit the proxy cannot
/// accept, and the runtime itself fails: it cannot start a thread or a timer and ends with "Out of memory." So the
/// proxy raises its soft limit to the hard one at start (a shell's `ulimit -n` is often 1024 under a far higher hard
/// limit; CoreCLR's own start-up does this too, and doing it here does not depend on which runtime runs the proxy),
/// and when --max-connections clients could still need more descriptors than that, serves fewer, answering the rest
/// 503 before the limit is reached.
/// </summary>
internal static partial class DescriptorLimit
{
    /// <summary>
    /// Descriptors kept for the runtime and the proxy's own, its event loops aside: its assemblies (the idle proxy
    /// holds about 125 besides its loops, with the framework beside it), listener, log file, what the runtime opens
    /// later (a new thread reads /sys and makes a pipe), and the rejected clients that linger over their 503
    /// (Proxy/ProxyServer.LingeringRejections, 64). With the default two loops the whole reserve is 256, as it was
    /// when it was one figure. What is left when all of those are open stays above Transport/DescriptorHeadroom's 32,
    /// so that check never turns a client away while the limit is the one the start fitted to.
    /// </summary>
    public const int ProcessReserve = 252;

    /// <summary>A client's own socket and the ones opened for it, to production and to the shadow.</summary>
    public const int PerClient = 3;

    /// <summary>Raises the soft limit to the hard one where it is lower.</summary>
    /// <returns>The soft limit now (the old one when it could not be raised); null when it cannot be read.</returns>
    public static unsafe ulong? Raise()
    {
        Libc.ResourceLimit limit;
        if (Libc.GetResourceLimit(Libc.OpenFilesResource, &limit) != 0)
        {
            return null;
        }

        if (limit.Soft < limit.Hard)
        {
            var raised = new Libc.ResourceLimit { Soft = limit.Hard, Hard = limit.Hard };
            if (Libc.SetResourceLimit(Libc.OpenFilesResource, &raised) == 0)
            {
                return raised.Soft;
            }
        }

        return limit.Soft;
    }

    /// <summary>
    /// Descriptors kept for the process when it runs <paramref name="eventLoops"/> loops: each holds its own for good
    /// (SHADOWPROXY_IO_THREADS can start dozens), so a fixed reserve would let clients take theirs.
    /// </summary>
    public static int Reserve(int eventLoops) => ProcessReserve + (EventLoop.Descriptors * eventLoops);

    /// <summary>The clients that fit in <paramref name="openFiles"/> descriptors beside the process's own, at least one.</summary>
    public static int ClientsWithin(ulong openFiles, int eventLoops)
    {
        ulong reserve = (ulong)Reserve(eventLoops);
        return openFiles <= reserve + PerClient ? 1 : (int)Math.Min((openFiles - reserve) / PerClient, int.MaxValue);
    }

    [LoggerMessage(EventId = 110, Level = LogLevel.Warning, Message = "--max-connections {Configured} lowered to {Clients}: the open-file limit (ulimit -n, LimitNOFILE) is {OpenFiles}, and each client can take {PerClient} descriptors (its own, production's, the shadow's) beside {Reserve} for the process ({PerLoop} for each of its {EventLoops} event loops among them); past {Clients} clients get 503. Raise the limit to serve more")]
    public static partial void ConnectionsLowered(
        this ILogger logger, int configured, int clients, ulong openFiles, int perClient, int reserve, int perLoop, int eventLoops);
}
