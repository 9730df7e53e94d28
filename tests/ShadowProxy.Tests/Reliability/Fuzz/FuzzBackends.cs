using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>
/// A production and a shadow that answer each fuzz request as its case says (the answer found by the request's id, its
/// pieces sent with their pauses) and keep what they received per case, in arrival order. Requests are not kept by the
/// <see cref="LoopbackBackend"/> itself: a long run would hold them all, and search them all for every case.
/// </summary>
internal sealed partial class FuzzBackends : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, FuzzRequest> _requests;

    public FuzzBackends(ConcurrentDictionary<string, FuzzRequest> requests)
    {
        _requests = requests;
        Production = new FuzzSide(LoopbackBackend.Start(connection => ServeAsync(connection, Production!, shadow: false)));
        Shadow = new FuzzSide(LoopbackBackend.Start(connection => ServeAsync(connection, Shadow!, shadow: true)));
    }

    public FuzzSide Production { get; }

    public FuzzSide Shadow { get; }

    /// <summary>The case key and the request id in a request-target (<c>/fz/KEY/N</c>).</summary>
    public static (string Key, string Id)? IdOf(string request)
    {
        Match match = IdPattern().Match(request);
        return match.Success ? (match.Groups[1].Value, match.Value) : null;
    }

    public async ValueTask DisposeAsync()
    {
        await Production.Backend.DisposeAsync();
        await Shadow.Backend.DisposeAsync();
    }

    /// <summary>Serves requests on one connection until the proxy or the answer ends it.</summary>
    private async Task ServeAsync(BackendConnection connection, FuzzSide side, bool shadow)
    {
        int served = 0;
        try
        {
            while (true)
            {
                string? received = await connection.ReadRequestAsync();
                if (received is null)
                {
                    return;
                }

                served++;
                (string Key, string Id)? id = IdOf(received[..received.IndexOf('\r', StringComparison.Ordinal)]);
                if (id is null || !_requests.TryGetValue(id.Value.Id, out FuzzRequest? request))
                {
                    side.Unexpected.Enqueue(received.Length > 300 ? received[..300] : received);
                    await connection.SendAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                    return;
                }

                side.Received.GetOrAdd(id.Value.Key, _ => new ConcurrentQueue<string>()).Enqueue(received);
                FuzzResponse response = shadow ? request.Shadow : request.Production;
                byte[] wire = response.Wire;
                int at = 0;
                foreach (Cut cut in response.Cuts)
                {
                    if (cut.DelayMs > 0)
                    {
                        await Task.Delay(cut.DelayMs, connection.Stopping);
                    }

                    await connection.SendAsync(wire[at..(at + cut.Length)]);
                    at += cut.Length;
                }

                string head = received[..(received.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)];
                if (response.BackendCloses || head.Contains("\r\nConnection: close\r\n", StringComparison.Ordinal))
                {
                    return;
                }
            }
        }
        finally
        {
            if (served == 0)
            {
                Interlocked.Increment(ref side.EmptyConnectionCount);
            }
        }
    }

    [GeneratedRegex("/fz/([0-9a-f]+-[0-9]+)/[0-9]+")]
    private static partial Regex IdPattern();

    /// <summary>One backend and what it received.</summary>
    internal sealed class FuzzSide(LoopbackBackend backend)
    {
        public int EmptyConnectionCount;

        public LoopbackBackend Backend { get; } = InitBackend(backend);

        /// <summary>Per case key, the requests in the order they were read whole (or cut short).</summary>
        public ConcurrentDictionary<string, ConcurrentQueue<string>> Received { get; } = new();

        /// <summary>Requests that belong to no case: the proxy made them up or mangled their request line.</summary>
        public ConcurrentQueue<string> Unexpected { get; } = new();

        public string[] Take(string key) => Received.TryRemove(key, out ConcurrentQueue<string>? requests) ? [.. requests] : [];

        public int Count(string key) => Received.TryGetValue(key, out ConcurrentQueue<string>? requests) ? requests.Count : 0;

        private static LoopbackBackend InitBackend(LoopbackBackend backend)
        {
            backend.KeepsRequests = false;
            return backend;
        }
    }
}
