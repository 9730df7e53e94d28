using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>A client that writes bytes exactly as given (no HttpClient normalising) and reads until the proxy closes.</summary>
internal static class RawHttp
{
    public static Task<string> SendAsync(IPEndPoint endpoint, string request) =>
        SendPiecesAsync(endpoint, [Encoding.Latin1.GetBytes(request)]);

    /// <summary>Sends each piece as its own write, a moment apart, so that the proxy sees them in separate reads.</summary>
    public static async Task<string> SendPiecesAsync(IPEndPoint endpoint, IEnumerable<byte[]> pieces, TimeSpan? pause = null)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        using var stream = new NetworkStream(socket);
        bool firstPiece = true;
        foreach (byte[] piece in pieces)
        {
            if (!firstPiece)
            {
                await Task.Delay(pause ?? TimeSpan.FromMilliseconds(2));
            }

            firstPiece = false;
            await stream.WriteAsync(piece);
        }

        return await ReadToEndAsync(stream);
    }

    public static async Task<string> ReadToEndAsync(Stream stream, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, limit.Token);
        return Encoding.Latin1.GetString(received.ToArray());
    }
}
