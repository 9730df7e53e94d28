using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>
/// The real <see cref="ProxyServer"/> in one <see cref="FuzzMode"/>, in front of its own <see cref="FuzzBackends"/>:
/// request lines are kept per case, and every diagnostic a valid exchange should never cause is kept too.
/// </summary>
internal sealed class FuzzTarget : IRequestLineSink, ILogger<ProxyServer>, IAsyncDisposable
{
    private readonly ProxyServer _server;

    private FuzzTarget(FuzzMode mode, FuzzBackends backends)
    {
        Mode = mode;
        Backends = backends;
        var options = new ProxyOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Production = backends.Production.Backend.EndPoint,
            Shadow = backends.Shadow.Backend.EndPoint,
            DrainTimeout = TimeSpan.FromSeconds(15),
            MaxRequestHeadBytes = FuzzGenerator.MaxHeadBytes,
            BackendKeepAlive = mode == FuzzMode.BackendKeepAlive,
            ClientKeepAlive = mode != FuzzMode.ClientClose,
            Mirror = new Mirroring.MirrorPolicySource(mode == FuzzMode.ShadowMarked
                ? new Mirroring.MirrorPolicy { ShadowHeader = FuzzCase.ShadowHeader, ShadowHost = FuzzCase.ShadowHost }
                : Mirroring.MirrorPolicy.MirrorAll),
        };
        _server = new ProxyServer(options, this, this, TimeProvider.System);
    }

    public FuzzMode Mode { get; }

    public FuzzBackends Backends { get; }

    public IPEndPoint EndPoint => _server.EndPoint!;

    /// <summary>Per case key, its request lines in the order they were written.</summary>
    public ConcurrentDictionary<string, ConcurrentQueue<RequestRecord>> Lines { get; } = new();

    /// <summary>Lines for no case, and diagnostics that no fuzz case should cause (unexpected errors, production failures).</summary>
    public ConcurrentQueue<string> Problems { get; } = new();

    public static async Task<FuzzTarget> StartAsync(FuzzMode mode, ConcurrentDictionary<string, FuzzRequest> requests)
    {
        var target = new FuzzTarget(mode, new FuzzBackends(requests));
        await target._server.StartAsync(CancellationToken.None);
        return target;
    }

    public RequestRecord[] TakeLines(string key) => Lines.TryRemove(key, out ConcurrentQueue<RequestRecord>? lines) ? [.. lines] : [];

    public int LineCount(string key) => Lines.TryGetValue(key, out ConcurrentQueue<RequestRecord>? lines) ? lines.Count : 0;

    public void Write(in RequestRecord record)
    {
        if (FuzzBackends.IdOf(record.Url) is { } id)
        {
            Lines.GetOrAdd(id.Key, _ => new ConcurrentQueue<RequestRecord>()).Enqueue(record);
        }
        else
        {
            Problems.Enqueue($"{Mode}: a request line for no case: {TextRequestLine.Format(record)}");
        }
    }

    public async Task StopAsync() => await _server.StopAsync(CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _server.Dispose();
        await Backends.DisposeAsync();
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        // 10: a rejected head, 12: a malformed chunked body, 20 / 21: production's broken answer: what the broken cases
        // provoke (each case checks its own outcome). Anything else is a finding.
        string message = formatter(state, exception);
        bool broken = eventId.Id is 10 or 12 || (eventId.Id is 20 or 21 && message.Contains(": InvalidResponse", StringComparison.Ordinal));
        if (IsEnabled(logLevel) && !broken)
        {
            Problems.Enqueue($"{Mode}: proxy said ({eventId.Id}) {message} {exception}");
        }
    }
}
