using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ShadowProxy.Http;

namespace ShadowProxy.Demo;

/// <summary>
/// A small HTTP/1.1 server on a free loopback port for the demo: the production app, or the shadow running "new
/// code" that differs on a few paths (another status, a slower answer, another body).
/// </summary>
internal sealed class DemoBackend : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly bool _isShadow;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private DemoBackend(bool isShadow)
    {
        _isShadow = isShadow;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public static DemoBackend StartProduction() => new(isShadow: false);

    public static DemoBackend StartShadow() => new(isShadow: true);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                Socket client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
                connections.Add(ServeAsync(client));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }

        await Task.WhenAll(connections).ConfigureAwait(false);
    }

    private async Task ServeAsync(Socket client)
    {
        using var stream = new NetworkStream(client, ownsSocket: true);
        PipeReader input = PipeReader.Create(stream);
        byte[] head = new byte[16 * 1024];
        try
        {
            while (true)
            {
                HeadRead read = await MessageHeadReader.ReadAsync(input, head, head.Length, TimeProvider.System, _stop.Token).ConfigureAwait(false);
                if (read.Status != HeadReadStatus.Complete || !RequestHeadParser.TryParse(head.AsSpan(0, read.Length), out RequestHead request))
                {
                    return;
                }

                await DemoBodies.SkipAsync(input, request.ContentLength).ConfigureAwait(false);
                (int status, string body, int delayMilliseconds) = Answer(request.Target);
                await Task.Delay(delayMilliseconds, _stop.Token).ConfigureAwait(false);
                string response = $"HTTP/1.1 {status} {(status < 400 ? "OK" : "Error")}\r\nContent-Type: text/plain\r\n"
                    + $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n{(request.ClientWantsClose ? "Connection: close\r\n" : "")}\r\n"
                    + (request.IsHead ? "" : body);
                await stream.WriteAsync(Encoding.UTF8.GetBytes(response), _stop.Token).ConfigureAwait(false);
                if (request.ClientWantsClose)
                {
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The proxy closed the connection, or the demo is over.
        }
    }

    /// <summary>The app's routes; the shadow's new code breaks checkout, is slower at search and lost user 7.</summary>
    private (int Status, string Body, int DelayMilliseconds) Answer(string target)
    {
        string path = target.Split('?')[0];
        return (path, _isShadow) switch
        {
            ("/checkout", true) => (500, "internal error\n", 5),
            ("/checkout", false) => (200, "order accepted\n", 5),
            ("/search", true) => (200, "results\n", 40),
            ("/search", false) => (200, "results\n", 10),
            ("/api/users/7", true) => (404, "no such user\n", 1),
            ("/api/users/7", false) => (200, "{\"id\":7}\n", 1),
            ("/missing", _) => (404, "not found\n", 1),
            _ => (200, $"page {target}\n", 2),
        };
    }
}
