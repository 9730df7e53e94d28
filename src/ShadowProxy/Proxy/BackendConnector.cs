using System.Net;
using System.Net.Sockets;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>Opens a backend connection and classifies why one could not be opened.</summary>
internal static class BackendConnector
{
    public static ValueTask<LoopSocket> ConnectAsync(IPEndPoint endpoint, ReadOnlyMemory<byte> address, CancellationToken cancellationToken) =>
        LoopSocket.ConnectAsync(endpoint, address, cancellationToken);

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
