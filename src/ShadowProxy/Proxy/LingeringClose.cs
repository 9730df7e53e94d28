using System.Buffers;
using System.Net.Sockets;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// Closes a client connection after the proxy's last answer. When request bytes may still be arriving, the send side
/// is shut first (the client sees the answer end) and what the client still sends is read away for a moment: closing
/// with unread bytes sends a reset, and a reset can destroy the answer before the client has read it.
/// </summary>
internal static class LingeringClose
{
    /// <param name="linger">How long to read away the client's bytes at most; then the socket closes regardless.</param>
    /// <param name="maxBytes">How much to read away at most (a client that keeps sending gets the reset).</param>
    /// <param name="abort">The proxy's drain timeout passed: stop reading away at once, so that the stop is not held up.</param>
    public static async Task CloseAsync(LoopSocket socket, bool drain, TimeSpan linger, int maxBytes, CancellationToken abort = default)
    {
        try
        {
            if (drain)
            {
                socket.ShutdownSend();
                using var lingering = CancellationTokenSource.CreateLinkedTokenSource(abort);
                lingering.CancelAfter(linger);
                byte[] discard = ArrayPool<byte>.Shared.Rent(4096);
                try
                {
                    for (int total = 0; total < maxBytes;)
                    {
                        int read = await socket.ReceiveAsync(discard, lingering.Token).ConfigureAwait(false);
                        if (read == 0)
                        {
                            break;
                        }

                        total += read;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(discard);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client is gone or slow to go: close regardless.
        }
        finally
        {
            // Without unread bytes close(2) sends a FIN after the answer, as shutdown would: one system call, not two.
            socket.Dispose();
        }
    }
}
