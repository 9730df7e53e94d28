using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ShadowProxy.Transport;

/// <summary>
/// Turns a Linux errno into the SocketException .NET's own sockets would throw, so the rest of the proxy (error
/// classification, the request line's error words) cannot tell the transports apart.
/// </summary>
internal static class SocketErrors
{
    public static SocketException FromErrno(int errno) => new((int)ToSocketError(errno));

    public static SocketException Last() => FromErrno(Marshal.GetLastPInvokeError());

    public static Exception Failure(int errno, bool asStream) =>
        asStream ? StreamFailure(FromErrno(errno)) : FromErrno(errno);

    /// <summary>What a stream reports, as NetworkStream does: an IOException around the socket's error.</summary>
    public static IOException StreamFailure(SocketException inner) => new(inner.Message, inner);

    public static SocketError ToSocketError(int errno) => errno switch
    {
        1 or 13 => SocketError.AccessDenied,                // EPERM, EACCES
        9 => SocketError.OperationAborted,                  // EBADF: closed under us
        12 or 105 => SocketError.NoBufferSpaceAvailable,    // ENOMEM, ENOBUFS
        23 or 24 => SocketError.TooManyOpenSockets,         // ENFILE, EMFILE
        32 => SocketError.Shutdown,                         // EPIPE
        98 => SocketError.AddressAlreadyInUse,
        99 => SocketError.AddressNotAvailable,
        100 => SocketError.NetworkDown,
        101 => SocketError.NetworkUnreachable,
        103 => SocketError.ConnectionAborted,
        104 => SocketError.ConnectionReset,
        107 => SocketError.NotConnected,
        110 => SocketError.TimedOut,
        111 => SocketError.ConnectionRefused,
        113 => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };
}
