using System.Net;
using System.Net.Sockets;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Transport;

/// <summary>The transport tests' sockets: a loopback listener, and a <see cref="LoopSocket"/> connected to it with .NET's socket at the other end.</summary>
internal static class LoopbackSockets
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    public static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        return listener;
    }

    public static async ValueTask<LoopSocket> ConnectAsync(IPEndPoint endpoint)
    {
        LoopSocket socket = LoopSocket.Open(endpoint);
        try
        {
            await socket.ConnectAsync(CancellationToken.None);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Connects a LoopSocket to the listener and accepts its peer.</summary>
    public static async Task<ConnectedPair> ConnectAsync(Socket listener)
    {
        Task<Socket> accepting = listener.AcceptAsync();
        LoopSocket socket = await ConnectAsync((IPEndPoint)listener.LocalEndPoint!);
        return new ConnectedPair(socket, await accepting.WaitAsync(Patience));
    }
}

/// <summary>A LoopSocket and the .NET socket at its other end.</summary>
internal sealed record ConnectedPair(LoopSocket Socket, Socket Peer) : IAsyncDisposable
{
    public ValueTask DisposeAsync()
    {
        Socket.Dispose();
        Peer.Dispose();
        return ValueTask.CompletedTask;
    }
}
