using System.Net;
using System.Net.Sockets;

namespace ShadowProxy.Proxy;

/// <summary>Opens a backend connection and classifies why one could not be opened.</summary>
internal static class BackendConnector
{
    public static async ValueTask<Socket> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The one place where an exception of a backend exchange becomes the contract's error word.</summary>
    public static BackendError Classify(Exception exception, bool timedOut) => exception switch
    {
        _ when timedOut => BackendError.Timeout,
        SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.AddressNotAvailable }
            => BackendError.Refused,
        SocketException { SocketErrorCode: SocketError.TimedOut } => BackendError.Timeout,
        IOException { InnerException: SocketException inner } => Classify(inner, timedOut),
        _ => BackendError.Reset,
    };
}
