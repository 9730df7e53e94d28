using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Demo;

/// <summary>Sends the demo's requests the way a browser would: several on one kept-alive connection.</summary>
internal static class DemoClient
{
    /// <summary>Sends the requests in order on one connection and reads each response whole; returns their statuses.</summary>
    public static async Task<List<int>> SendAsync(IPEndPoint proxy, IEnumerable<(string Method, string Target, string? Body)> requests, CancellationToken cancellationToken)
    {
        var statuses = new List<int>();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(proxy, cancellationToken).ConfigureAwait(false);
        using var stream = new NetworkStream(socket);
        PipeReader input = PipeReader.Create(stream);
        byte[] head = new byte[16 * 1024];
        foreach ((string method, string target, string? body) in requests)
        {
            string request = body is null
                ? $"{method} {target} HTTP/1.1\r\nHost: demo.local\r\nUser-Agent: shadowproxy-demo\r\n\r\n"
                : $"{method} {target} HTTP/1.1\r\nHost: demo.local\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request), cancellationToken).ConfigureAwait(false);
            HeadRead read = await MessageHeadReader.ReadAsync(input, head, head.Length, TimeProvider.System, cancellationToken).ConfigureAwait(false);
            if (read.Status != HeadReadStatus.Complete
                || !ResponseHeadParser.TryParse(head.AsSpan(0, read.Length), method == "HEAD", answersConnect: false, out ResponseHead response))
            {
                throw new InvalidDataException($"The proxy's answer to {method} {target} is not an HTTP response.");
            }

            statuses.Add(response.StatusCode);
            await DemoBodies.SkipAsync(input, response.Body == BodyKind.ContentLength ? response.ContentLength : 0, cancellationToken).ConfigureAwait(false);

            if (response.ServerWantsClose)
            {
                break;
            }
        }

        return statuses;
    }
}
