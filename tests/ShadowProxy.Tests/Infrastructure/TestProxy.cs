using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>The real <see cref="ProxyServer"/> on 127.0.0.1:0, with an in-memory request-line sink.</summary>
internal sealed class TestProxy : IAsyncDisposable, IRequestLineSink
{
    private readonly ProxyServer _server;
    private readonly ConcurrentQueue<RequestRecord> _records = new();
    private bool _stopped;

    private TestProxy(ProxyOptions options)
    {
        Options = options;
        _server = new ProxyServer(options, this, NullLogger<ProxyServer>.Instance, TimeProvider.System);
    }

    public ProxyOptions Options { get; }

    public IPEndPoint EndPoint => _server.EndPoint!;

    public ProxyServer Server => _server;

    public IReadOnlyList<RequestRecord> Records => [.. _records];

    public IReadOnlyList<string> RequestLines => [.. _records.Select(record => TextRequestLine.Format(record))];

    public static async Task<TestProxy> StartAsync(IPEndPoint production, IPEndPoint shadow, Func<ProxyOptions, ProxyOptions>? configure = null)
    {
        var options = new ProxyOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Production = production,
            Shadow = shadow,
            DrainTimeout = TimeSpan.FromSeconds(15),
        };
        var proxy = new TestProxy(configure?.Invoke(options) ?? options);
        await proxy._server.StartAsync(CancellationToken.None);
        return proxy;
    }

    /// <summary>
    /// An endpoint where nothing listens: connecting is refused. The port stays bound (never listening) for the whole
    /// run: a port merely freed could be taken by another test's listener running alongside, which then answers.
    /// </summary>
    public static IPEndPoint ClosedPort() => (IPEndPoint)BoundNeverListening.Value.LocalEndPoint!;

    private static readonly Lazy<System.Net.Sockets.Socket> BoundNeverListening = new(() =>
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    });

    public void Write(in RequestRecord record) => _records.Enqueue(record);

    /// <summary>Waits (bounded) until <paramref name="count"/> request lines were written.</summary>
    public async Task WaitForLinesAsync(int count, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        while (_records.Count < count)
        {
            await Task.Delay(10, limit.Token);
        }
    }

    /// <summary>Stops the proxy: drains every connection, so every request line is written when this returns.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _server.StopAsync(CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _server.Dispose();
    }
}
