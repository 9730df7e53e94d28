using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Demo;

/// <summary>
/// <c>ShadowProxy demo</c>: the whole path on one machine with no setup. Two built-in backends, the real proxy in
/// front of them on a free loopback port, ~50 sample requests, their request lines, then a summary. The request lines
/// go to stdout as the proxy writes them anywhere else; the banner and the summary are commentary and go to
/// <c>commentary</c> (stderr), so <c>demo &gt; demo.log</c> is a log <c>report</c> reads whole.
/// </summary>
internal static class DemoCommand
{
    private const int Clients = 4;

    public static async Task<int> RunAsync(TextWriter commentary, CancellationToken cancellationToken)
    {
        await using DemoBackend production = DemoBackend.StartProduction();
        await using DemoBackend shadow = DemoBackend.StartShadow();
        var options = new ProxyOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Production = production.EndPoint,
            Shadow = shadow.EndPoint,
            ShadowTimeout = TimeSpan.FromSeconds(5),
        };
        await commentary.WriteLineAsync(
            $"ShadowProxy demo: production on {production.EndPoint}, shadow on {shadow.EndPoint}; request lines:").ConfigureAwait(false);
        await commentary.FlushAsync(cancellationToken).ConfigureAwait(false);

        var records = new ConcurrentQueue<RequestRecord>();
        // The proxy's own stdout (write(2) on descriptor 1), not Console's stream: that one throws on a closed stdout
        // (UnauthorizedAccessException for EBADF), which the line writer does not expect, and the demo died with a stack.
        var writer = new RequestLineWriter(StandardStreams.OpenOutput(), LineFormat.Text, logFile: null, NullLogger.Instance);
        await using (writer.ConfigureAwait(false))
        {
            using var proxy = new ProxyServer(options, new RecordingSink(writer, records), NullLogger<ProxyServer>.Instance, TimeProvider.System);
            await proxy.StartAsync(cancellationToken).ConfigureAwait(false);
            IPEndPoint endpoint = proxy.EndPoint!;
            var sent = Enumerable.Range(0, Clients)
                .Select(client => DemoClient.SendAsync(endpoint, SampleRequests(client), cancellationToken));
            await Task.WhenAll(sent).ConfigureAwait(false);
            await proxy.StopAsync(cancellationToken).ConfigureAwait(false);   // drains: every line is written
        }

        DemoSummary.Write(records, commentary);
        return 0;
    }

    /// <summary>Roughly what a shop gets: pages, searches, an API, and a checkout that posts a body.</summary>
    private static IEnumerable<(string Method, string Target, string? Body)> SampleRequests(int client)
    {
        for (int i = 0; i < 12; i++)
        {
            int n = (client * 12) + i;
            yield return (n % 6) switch
            {
                0 => ("GET", $"/products?id={n}", null),
                1 => ("GET", $"/search?q=shoes&page={n % 3}", null),
                2 => ("POST", "/checkout", $"{{\"cart\":{n},\"note\":\"deliver HTTP/1.1 style\\r\\n\"}}"),
                3 => ("GET", n % 4 == 3 ? "/api/users/7" : $"/api/users/{n}", null),
                4 => ("GET", "/", null),
                _ => ("HEAD", $"/products?id={n}", null),
            };
        }
    }

    /// <summary>Writes each line and keeps the record for the summary.</summary>
    private sealed class RecordingSink(IRequestLineSink inner, ConcurrentQueue<RequestRecord> records) : IRequestLineSink
    {
        public void Write(in RequestRecord record)
        {
            records.Enqueue(record);
            inner.Write(record);
        }
    }
}
