using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>
/// Concurrent keep-alive clients that send numbered requests until the source runs dry, reconnecting whenever the
/// proxy announces a close, and count the complete responses they got by status.
/// </summary>
internal sealed class LoadClient
{
    private readonly ConcurrentDictionary<int, int> _statuses = new();
    private int _next = -1;
    private int _responses;
    private int _failures;

    /// <summary>Complete responses received.</summary>
    public int Responses => Volatile.Read(ref _responses);

    /// <summary>Requests that got no complete response (the connection failed).</summary>
    public int Failures => Volatile.Read(ref _failures);

    public IReadOnlyDictionary<int, int> Statuses => _statuses;

    /// <param name="request">The request with the given number, or null when there are no more.</param>
    public async Task RunAsync(IPEndPoint endpoint, int clients, Func<int, string?> request)
    {
        var workers = new Task[clients];
        for (int i = 0; i < clients; i++)
        {
            workers[i] = Task.Run(() => ClientAsync(endpoint, request));
        }

        await Task.WhenAll(workers);
    }

    private async Task ClientAsync(IPEndPoint endpoint, Func<int, string?> source)
    {
        RawConnection? connection = null;
        try
        {
            while (source(Interlocked.Increment(ref _next)) is { } request)
            {
                connection ??= await RawConnection.OpenAsync(endpoint);
                string response;
                try
                {
                    await connection.SendAsync(request);
                    response = await connection.ReadResponseAsync(timeout: TimeSpan.FromSeconds(60));
                }
                catch (Exception ex) when (ex is IOException or SocketException)
                {
                    Interlocked.Increment(ref _failures);
                    await connection.DisposeAsync();
                    connection = null;
                    continue;
                }

                Interlocked.Increment(ref _responses);
                _statuses.AddOrUpdate(int.Parse(response.AsSpan(9, 3), provider: null), 1, (_, count) => count + 1);
                int headEnd = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (response.AsSpan(0, headEnd + 2).Contains("\r\nConnection: close\r\n", StringComparison.OrdinalIgnoreCase))
                {
                    await connection.DisposeAsync();
                    connection = null;
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>Sends part of a request body and disconnects.</summary>
    public static async Task DisconnectMidRequestAsync(IPEndPoint endpoint)
    {
        using var socket = await ConnectAsync(endpoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nonly a little"));
        socket.LingerState = new LingerOption(true, 0);   // a reset, as a crashing client leaves it
    }

    /// <summary>Asks for a large response, reads a little of it, and disconnects.</summary>
    public static async Task DisconnectMidResponseAsync(IPEndPoint endpoint)
    {
        using var socket = await ConnectAsync(endpoint);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {FaultyBackends.ProductionTrickles} HTTP/1.1\r\nHost: h\r\n\r\n"));
        byte[] buffer = new byte[1024];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        int read = await socket.ReceiveAsync(buffer, limit.Token);
        Assert.True(read > 0, "the huge response should start");
        socket.LingerState = new LingerOption(true, 0);
    }

    /// <summary>Sends bytes that are not HTTP and reads the answer; returns it.</summary>
    public static async Task<string> SendGarbageAsync(IPEndPoint endpoint, byte[] garbage)
    {
        using var socket = await ConnectAsync(endpoint);
        using var stream = new NetworkStream(socket);
        await stream.WriteAsync(garbage);
        socket.Shutdown(SocketShutdown.Send);
        return await RawHttp.ReadToEndAsync(stream);
    }

    private static async Task<Socket> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return socket;
    }
}
