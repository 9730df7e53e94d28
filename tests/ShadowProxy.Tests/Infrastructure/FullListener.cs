using System.Net;
using System.Net.Sockets;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>
/// A listener on 127.0.0.1 that never accepts, with its accept queue filled: the kernel then drops further SYNs and a
/// connect to it hangs, as to a backend host that has gone away (no DNS, no routing tricks).
/// </summary>
internal sealed class FullListener : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _fillers = [];

    public FullListener()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(0);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Connects until a connect no longer completes at once: the queue is then full.</summary>
    public async Task FillAsync()
    {
        for (int i = 0; i < 64; i++)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _fillers.Add(socket);
            using var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                await socket.ConnectAsync(EndPoint, quick.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        throw new InvalidOperationException("the accept queue never filled up");
    }

    public void Dispose()
    {
        _fillers.ForEach(socket => socket.Dispose());
        _listener.Dispose();
    }
}
