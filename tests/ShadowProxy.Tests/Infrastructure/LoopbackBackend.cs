using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>
/// A backend on 127.0.0.1:0 that records every request exactly as it arrived (head and body bytes) and answers as
/// its handler says: a canned response by default, or any misbehaviour a test needs.
/// </summary>
internal sealed class LoopbackBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<BackendConnection, Task> _handler;
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private int _connectionCount;
    private int _requestCount;
    private int _pruneConnectionsAt = 1024;

    private LoopbackBackend(Func<BackendConnection, Task> handler)
    {
        _handler = handler;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Each request as received, head and body, decoded byte for byte (Latin-1).</summary>
    public IReadOnlyList<string> Requests => KeepsRequests
        ? [.. _requests]
        : throw new InvalidOperationException("This backend counts requests without keeping them (KeepsRequests is false).");

    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    /// <summary>
    /// Whether each request is kept for <see cref="Requests"/> (the default), or only counted: a soak sends millions,
    /// and keeping them all would grow the test host by gigabytes and slow its own load.
    /// </summary>
    public bool KeepsRequests { get; set; } = true;

    /// <summary>Requests received so far, kept or not.</summary>
    public int RequestCount => Volatile.Read(ref _requestCount);

    /// <summary>Reads each request whole, then sends <paramref name="response"/> and closes.</summary>
    public static LoopbackBackend Start(string response) => Start(async connection =>
    {
        await connection.ReadRequestAsync();
        await connection.SendAsync(response);
    });

    public static LoopbackBackend Start(Func<BackendConnection, Task> handler) => new(handler);

    /// <summary>Waits until <paramref name="count"/> requests have been recorded (bounded; throws on timeout).</summary>
    public async Task WaitForRequestsAsync(int count, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (RequestCount < count)
        {
            await Task.Delay(10, limit.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }

    internal void Record(string request)
    {
        if (KeepsRequests)
        {
            _requests.Enqueue(request);
        }

        Interlocked.Increment(ref _requestCount);
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                Socket socket = await _listener.AcceptAsync(_stop.Token);
                Interlocked.Increment(ref _connectionCount);
                lock (_connections)
                {
                    // Only the connections still being served are waited for at the end: finished ones are dropped
                    // now and then, so a long run does not keep every connection it ever had.
                    if (_connections.Count >= _pruneConnectionsAt)
                    {
                        _connections.RemoveAll(static connection => connection.IsCompletedSuccessfully);   // a failed one still fails the dispose
                        _pruneConnectionsAt = Math.Max(1024, _connections.Count * 2);
                    }

                    _connections.Add(ServeAsync(socket));
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var connection = new BackendConnection(this, socket, _stop.Token);
        try
        {
            await _handler(connection);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The proxy closed or reset the connection: that is often what a test provokes.
        }
        finally
        {
            connection.Dispose();
        }
    }
}
