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
    /// <summary>How often <see cref="ResetAsync"/> looks whether the client has taken what was written.</summary>
    private static readonly TimeSpan ResetPoll = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Ends the connection with a reset (an answer cut where only the close would end it), once what was written has
    /// reached the client, within <paramref name="linger"/>: a reset throws away what the kernel still holds to send,
    /// earlier whole answers on the connection included.
    /// </summary>
    public static async Task ResetAsync(LoopSocket socket, TimeSpan linger, CancellationToken abort = default)
    {
        long giveUpAt = Environment.TickCount64 + (long)linger.TotalMilliseconds;
        try
        {
            while (socket.UnacknowledgedBytes() > 0 && Environment.TickCount64 < giveUpAt)
            {
                await Task.Delay(ResetPoll, abort).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The drain timed out: reset at once.
        }
        finally
        {
            socket.Abort();
        }
    }

    /// <param name="linger">How long to read away the client's bytes at most; then the socket closes regardless.</param>
    /// <param name="maxBytes">How much to read away at most (a client that keeps sending gets the reset).</param>
    /// <param name="abort">The proxy's drain timeout passed: stop reading away at once, so that the stop is not held up.</param>
    public static async Task CloseAsync(LoopSocket socket, bool drain, TimeSpan linger, long maxBytes, CancellationToken abort = default)
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
                    for (long total = 0; total < maxBytes;)
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
