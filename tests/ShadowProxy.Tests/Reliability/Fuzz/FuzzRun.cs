using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Net.Sockets;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>
/// Runs cases against one proxy per <see cref="FuzzMode"/> (several at once, so that a broken connection next to good
/// ones is part of the test) and checks each against what it promises; returns a description of every case that broke one.
/// </summary>
internal sealed class FuzzRun : IAsyncDisposable
{
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(15);
    private readonly ConcurrentDictionary<string, FuzzRequest> _requests = new();
    private readonly Dictionary<FuzzMode, FuzzTarget> _targets = [];
    private readonly ConcurrentDictionary<string, int> _counts = new();

    /// <summary>What the cases held: a check that the generator reaches what it is meant to.</summary>
    public string Summary => string.Join(", ", _counts.OrderBy(count => count.Key, StringComparer.Ordinal).Select(count => $"{count.Key} {count.Value}"));

    public static async Task<FuzzRun> StartAsync()
    {
        var run = new FuzzRun();
        foreach (FuzzMode mode in Enum.GetValues<FuzzMode>())
        {
            run._targets[mode] = await FuzzTarget.StartAsync(mode, run._requests);
        }

        return run;
    }

    /// <summary>Runs the cases, <paramref name="parallelism"/> at a time; returns the failures (at most <paramref name="maxFailures"/> described).</summary>
    public async Task<List<string>> RunAsync(int seed, IEnumerable<int> indexes, int parallelism, int maxFailures = 5)
    {
        var failures = new ConcurrentQueue<string>();
        await Parallel.ForEachAsync(indexes, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, async (index, _) =>
        {
            if (failures.Count >= maxFailures)
            {
                return;
            }

            FuzzCase fuzz = FuzzGenerator.Create(seed, index);
            Count(fuzz);
            List<string> problems = await RunCaseAsync(fuzz);
            if (problems.Count > 0)
            {
                failures.Enqueue(fuzz.Describe() + string.Concat(problems.Select(problem => "  => " + problem + "\n")));
            }
        });

        return [.. failures];
    }

    /// <summary>What must hold once every case has ended: nothing arrived late, nothing unexpected was said.</summary>
    public List<string> Leftovers()
    {
        var problems = new List<string>();
        foreach (FuzzTarget target in _targets.Values)
        {
            problems.AddRange(target.Problems.Take(20));
            foreach ((string side, FuzzBackends.FuzzSide backend) in new[] { ("production", target.Backends.Production), ("shadow", target.Backends.Shadow) })
            {
                problems.AddRange(backend.Unexpected.Take(5).Select(request => $"{target.Mode}: {side} got a request of no case: {FuzzCase.Escape(FuzzCase.Latin1Bytes(request), 300)}"));
                problems.AddRange(backend.Received.Keys.Take(5).Select(key => $"{target.Mode}: {side} got requests of case {key} after it was checked"));
                if (target.Mode != FuzzMode.BackendKeepAlive && backend.EmptyConnectionCount > 0)
                {
                    problems.Add($"{target.Mode}: {backend.EmptyConnectionCount} {side} connections carried no complete request head");
                }
            }

            problems.AddRange(target.Lines.Keys.Take(5).Select(key => $"{target.Mode}: request lines of case {key} after it was checked"));
        }

        return problems;
    }

    public async Task StopAsync()
    {
        foreach (FuzzTarget target in _targets.Values)
        {
            await target.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (FuzzTarget target in _targets.Values)
        {
            await target.DisposeAsync();
        }
    }

    private void Count(FuzzCase fuzz)
    {
        void Add(string what) => _counts.AddOrUpdate(what, 1, (_, count) => count + 1);
        Add("cases");
        Add("mode " + fuzz.Mode);
        Add(fuzz.Cuts.Any(cut => cut.DelayMs > 0) ? "cases with pauses" : "cases without pauses");
        foreach (FuzzRequest request in fuzz.Requests)
        {
            Add("requests");
            Add(request.Invalid switch
            {
                Invalidity.Head => "broken heads",
                Invalidity.Body => "broken bodies",
                _ when request.Tunnel => "declined upgrades",
                _ => FuzzGenerator.Latin1Head(request).Contains("chunked", StringComparison.OrdinalIgnoreCase) ? "chunked requests"
                    : request.Body.Length > 0 ? "length requests" : "bodiless requests",
            });
        }

        foreach (FuzzRequest request in fuzz.Forwarded.Where(request => request.Invalid == Invalidity.None))
        {
            FuzzResponse response = request.Production;
            Add(response.Invalid != Invalidity.None ? "broken answers"
                : response.CloseDelimited ? "answers to the close"
                : response.Body.Length == 0 ? "answers without body"
                : FuzzGenerator.Latin1(response.Head).Contains("chunked", StringComparison.OrdinalIgnoreCase) ? "chunked answers" : "length answers");
            if (response.Interims.Count > 0)
            {
                Add("answers after interim ones");
            }
        }
    }

    private async Task<List<string>> RunCaseAsync(FuzzCase fuzz)
    {
        foreach (FuzzRequest request in fuzz.Requests)
        {
            _requests[request.Id] = request;
        }

        FuzzTarget target = _targets[fuzz.Mode];
        var problems = new List<string>();
        try
        {
            (byte[] received, string ending, string sent) = await ExchangeAsync(target, fuzz);
            byte[] expected = fuzz.ExpectedClientBytes;
            byte[] cut = fuzz.ExpectedClientCut;
            bool cutShort = received.Length >= expected.Length && received.AsSpan(0, expected.Length).SequenceEqual(expected)
                && received.Length - expected.Length <= cut.Length && received.AsSpan(expected.Length).SequenceEqual(cut.AsSpan(0, received.Length - expected.Length));
            // A client that said close and still sent more may have its connection reset over the last answer: the
            // kernel answers the bytes the proxy never reads with a reset, and drops what it had not sent yet.
            bool resetOverItsClose = fuzz.ClientSendsAfterItsClose && ending == "ended by ConnectionReset";
            bool prefix = received.Length <= expected.Length && received.AsSpan().SequenceEqual(expected.AsSpan(0, received.Length));
            if (cut.Length > 0 ? !cutShort : resetOverItsClose ? !prefix : !received.AsSpan().SequenceEqual(expected))
            {
                problems.Add(FuzzChecks.Mismatch("the client", [.. expected, .. cut], received) + $" (connection {ending}; {sent})");
            }
            // A reset is reported once per socket: to the send when the client was still sending (an early answer), and
            // the read then sees the end.
            else if (fuzz.EndsWithReset ? ending != "ended by ConnectionReset" && !sent.Contains(": ConnectionReset;", StringComparison.Ordinal)
                : ending != "closed" && !(fuzz.ClientSendsAfterItsClose && ending == "ended by ConnectionReset"))
            {
                problems.Add($"the client got every response, then the connection was {ending} instead of {(fuzz.EndsWithReset ? "reset" : "closed")} ({sent})");
            }

            IReadOnlyList<FuzzRequest> forwarded = fuzz.Forwarded;
            await WaitAsync(() =>
                target.Backends.Production.Count(fuzz.Key) >= forwarded.Count
                && target.Backends.Shadow.Count(fuzz.Key) >= forwarded.Count(request => !request.Tunnel)
                && target.LineCount(fuzz.Key) >= forwarded.Count);
            FuzzChecks.CheckBackend(fuzz, "production", forwarded, target.Backends.Production.Take(fuzz.Key), inOrder: true, problems);
            // A tunnel request (Upgrade) is never mirrored.
            FuzzChecks.CheckBackend(fuzz, "shadow", [.. forwarded.Where(request => !request.Tunnel)], target.Backends.Shadow.Take(fuzz.Key), inOrder: false, problems);
            FuzzChecks.CheckLines(forwarded, target.TakeLines(fuzz.Key), problems);
        }
        finally
        {
            foreach (FuzzRequest request in fuzz.Requests)
            {
                _requests.TryRemove(request.Id, out _);
            }
        }

        return problems;
    }

    /// <summary>Writes the case's pieces (pausing where it says) while reading everything the proxy sends until it closes.</summary>
    private static async Task<(byte[] Received, string Ending, string Sent)> ExchangeAsync(FuzzTarget target, FuzzCase fuzz)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(target.EndPoint);
        Task<(byte[], string)> reading = ReceiveAsync(socket);
        byte[] wire = fuzz.Wire;
        int at = 0;
        string sent;
        string ports = $"client port {((System.Net.IPEndPoint)socket.LocalEndPoint!).Port}, proxy port {target.EndPoint.Port}";
        try
        {
            foreach (Cut cut in fuzz.Cuts)
            {
                if (cut.DelayMs > 0)
                {
                    await Task.Delay(cut.DelayMs);
                }

                for (int piece = at + cut.Length; at < piece;)
                {
                    at += await socket.SendAsync(wire.AsMemory(at, piece - at));
                }
            }

            if (fuzz.HalfClose)
            {
                socket.Shutdown(SocketShutdown.Send);
            }

            sent = $"all {wire.Length} bytes sent; {ports}";
        }
        catch (SocketException ex)
        {
            sent = $"sending failed after {at} of {wire.Length} bytes: {ex.SocketErrorCode}; {ports}";
        }

        (byte[] received, string ending) = await reading;
        return (received, ending, sent);
    }

    private static async Task<(byte[], string)> ReceiveAsync(Socket socket)
    {
        using var limit = new CancellationTokenSource(CaseTimeout);
        using var received = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer, limit.Token);
                if (read == 0)
                {
                    return (received.ToArray(), "closed");
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (OperationCanceledException)
        {
            return (received.ToArray(), $"still open after {CaseTimeout.TotalSeconds} s");
        }
        catch (SocketException ex)
        {
            return (received.ToArray(), $"ended by {ex.SocketErrorCode}");
        }
    }

    private static async Task WaitAsync(Func<bool> done)
    {
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); !done() && waited.Elapsed < CaseTimeout;)
        {
            await Task.Delay(5);
        }
    }
}
