using System.Diagnostics;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>Ordinary traffic with every backend and client fault mixed in, for the leak test and the soak.</summary>
internal static class MixedLoad
{
    /// <summary>
    /// Runs <paramref name="requests"/> requests from 16 keep-alive clients, one in twenty with a backend fault of
    /// each kind, while other clients disconnect mid-request, mid-response, or send garbage.
    /// </summary>
    public static async Task<LoadClient> RunAsync(ProxyProcess proxy, int requests, int clientFaults)
    {
        var load = new LoadClient();
        Task loading = load.RunAsync(proxy.EndPoint, clients: 16, i => i < requests ? MixedRequest(i) : null);
        Task faults = Task.Run(async () =>
        {
            for (int i = 0; i < clientFaults; i++)
            {
                switch (i % 3)
                {
                    case 0:
                        await LoadClient.DisconnectMidRequestAsync(proxy.EndPoint);
                        break;
                    case 1:
                        await LoadClient.DisconnectMidResponseAsync(proxy.EndPoint);
                        break;
                    default:
                        string answer = await LoadClient.SendGarbageAsync(proxy.EndPoint, "\u0016\u0003\u0001 not http\r\n\r\n"u8.ToArray());
                        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
                        break;
                }
            }
        });
        await Task.WhenAll(loading, faults);
        return load;
    }

    public static string MixedRequest(int i) => (i % 20) switch
    {
        0 => Get(FaultyBackends.ShadowResets, i),
        1 => Get(FaultyBackends.ShadowSilent, i),
        2 => Get(FaultyBackends.ShadowInvalid, i),
        3 => Get(FaultyBackends.ShadowHalfCloses, i),
        4 => Get(FaultyBackends.ProductionCloses, i),
        5 => Get(FaultyBackends.ProductionInvalid, i),
        6 => Get(FaultyBackends.ProductionHalfCloses, i),
        7 => $"POST {FaultyBackends.EarlyAnswer}?i={i} HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n{new string('b', 70_000)}",
        8 => $"POST /chunked?i={i} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        9 when i % 200 == 9 => Get(FaultyBackends.ShadowHuge, i),
        _ => Get("/ok", i),
    };

    private static string Get(string path, int i) => $"GET {path}?i={i} HTTP/1.1\r\nHost: h\r\n\r\n";

    /// <summary>Waits (bounded) until every expected line is out and only the idle sockets are open, then reads the figures.</summary>
    public static async Task<ResourceFigures> SettledAsync(ProxyProcess proxy, int expectedLines, int idleSockets)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            (int threads, long residentKb) = proxy.Status();
            var figures = new ResourceFigures(proxy.OpenDescriptors(), proxy.OpenSockets(), threads, residentKb);
            bool linesOut = proxy.StdoutLineCount >= expectedLines;
            bool descriptorsDown = figures.Sockets <= idleSockets;
            if ((linesOut && descriptorsDown) || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                Assert.True(linesOut, $"expected {expectedLines} lines, got {proxy.StdoutLineCount}");
                return figures;
            }

            // No event says "the proxy has closed its sockets": poll /proc, bounded.
            await Task.Delay(100);
        }
    }
}

/// <summary>What /proc says about the proxy process.</summary>
internal sealed record ResourceFigures(int Descriptors, int Sockets, int Threads, long ResidentKb)
{
    public override string ToString() => $"{Descriptors} fds ({Sockets} sockets), {Threads} threads, {ResidentKb / 1024} MB RSS";
}
