using System.Diagnostics;
using System.Globalization;
using ShadowProxy.Tests.Reliability.Fuzz;
using Xunit.Abstractions;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// A seeded differential fuzz of HTTP/1.1 framing through the real proxy on loopback sockets. Each case pipelines 1-5
/// requests on one kept-alive connection (GET, HEAD, POST, PUT, DELETE, OPTIONS; no body, Content-Length (leading zeros,
/// repeated), or chunked with extensions, trailers, hex of any case and leading zeros; header names of any case, optional
/// whitespace, obs-text, heads right at --max-head-size, HTTP/1.0 with and without keep-alive, Upgrade requests that
/// production declines), written in pieces cut at random and at the awkward places (single bytes, mid-CRLF, mid-chunk-size)
/// with short pauses, and then left open or half-closed. The backends answer in pieces too, in every response framing
/// (Content-Length, chunked, to the close, Transfer-Encoding with a Content-Length it overrides, 204 / 304 and HEAD
/// answers without a body, interim answers first, bodies holding "HTTP/1.1" and CRLFs). About one case in five breaks one
/// request (Content-Length with Transfer-Encoding, signed lengths, obs-fold, bare LF, bad chunk sizes, a head over the
/// limit), and one answer in thirty is broken (two lengths, bare LF, a chunked body that breaks). Each case runs against
/// the defaults, --backend-keep-alive on, --client-keep-alive off, or a marked shadow copy (--shadow-header, --shadow-host).
/// <para>
/// What is checked, from the README rather than the code: production gets exactly the requests up to the first that
/// ends the connection, in order, each byte for byte as sent (a chunked body keeps its framing) with Connection,
/// Keep-Alive and Proxy-Connection replaced by one <c>Connection: close</c> (<c>keep-alive</c> with backend reuse,
/// <c>Upgrade</c> for an Upgrade); the shadow gets the same (marked as configured; never an Upgrade); the client gets
/// exactly one response per request, in order, byte for byte production's with its own Connection field, then a clean
/// close (not a reset); a broken request gets 400 (431), and neither backend gets any of it (of a broken chunked body, at
/// most the head and its valid part); a broken answer gets the client 502 (or, part-way through its body, a cut at the
/// breaking byte, which it never gets, and a reset instead of the close when it frames that answer by the close: chunked to HTTP/1.0); one request line per forwarded request, with both statuses and both payloads' sizes and hashes right;
/// and, at the end, no request, line or diagnostic that belongs to no case.
/// </para>
/// <para>
/// The default run is bounded (<see cref="DefaultCases"/> cases of seed <see cref="DefaultSeed"/>). A longer one:
/// <c>SHADOWPROXY_FUZZ_CASES=20000 SHADOWPROXY_FUZZ_SEED=7 dotnet test ShadowProxy.sln -c Release --filter FramingFuzzTests</c>.
/// A failure prints each broken case and the variables that run it alone: <c>SHADOWPROXY_FUZZ_SEED=S SHADOWPROXY_FUZZ_CASE=N</c>.
/// </para>
/// </summary>
public sealed class FramingFuzzTests(ITestOutputHelper output)
{
    private const int DefaultSeed = 20261127;
    private const int DefaultCases = 500;
    private const int Parallelism = 4;

    [Fact]
    public async Task Pipelined_requests_cut_anywhere_reach_both_backends_and_their_answers_the_client_exactly_once_in_order()
    {
        int seed = FromEnvironment("SHADOWPROXY_FUZZ_SEED") ?? DefaultSeed;
        int? only = FromEnvironment("SHADOWPROXY_FUZZ_CASE");
        int cases = FromEnvironment("SHADOWPROXY_FUZZ_CASES") ?? DefaultCases;
        IEnumerable<int> indexes = only is { } one ? [one] : Enumerable.Range(0, cases);

        var clock = Stopwatch.StartNew();
        await using FuzzRun run = await FuzzRun.StartAsync();
        List<string> failures = await run.RunAsync(seed, indexes, Parallelism);
        await run.StopAsync();
        failures.AddRange(run.Leftovers());
        output.WriteLine($"seed {seed}: {(only is null ? cases : 1)} cases in {clock.Elapsed.TotalSeconds:F1} s, {failures.Count} failures; {run.Summary}");

        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} failures (at most 5 cases described)\n" + string.Join("\n", failures));
    }

    private static int? FromEnvironment(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? int.Parse(value, CultureInfo.InvariantCulture) : null;
}
