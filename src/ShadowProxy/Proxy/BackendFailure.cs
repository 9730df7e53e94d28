using System.Net.Sockets;

namespace ShadowProxy.Proxy;

/// <summary>Classifies why a backend exchange failed.</summary>
internal static class BackendFailure
{
    /// <summary>The one place where an exception of a backend exchange becomes the contract's error word.</summary>
    public static BackendError Classify(Exception exception, bool timedOut) => exception switch
    {
        _ when timedOut => BackendError.Timeout,
        // Out of descriptors (the open-file limit, or the runtime's headroom) is a connection that could not be made too.
        SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.AddressNotAvailable or SocketError.TooManyOpenSockets }
            => BackendError.Refused,
        SocketException { SocketErrorCode: SocketError.TimedOut } => BackendError.Timeout,
        IOException { InnerException: SocketException inner } => Classify(inner, timedOut),
        _ => BackendError.Reset,
    };
}
