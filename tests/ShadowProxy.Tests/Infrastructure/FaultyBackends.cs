using System.Net.Sockets;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>
/// A production and a shadow that misbehave on request: the path (before '?') names the fault, so that one load run
/// can mix faults into ordinary traffic. Any other path gets an ordinary answer after the whole request was read.
/// </summary>
internal sealed class FaultyBackends : IAsyncDisposable
{
    public const string ProductionOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    public const string ShadowOk = "HTTP/1.1 201 Created\r\nContent-Length: 6\r\nConnection: close\r\n\r\nshadow";

    /// <summary>Production closes at once after the head, without an answer: the client gets 502.</summary>
    public const string ProductionCloses = "/f/production-closes";

    /// <summary>Production half-closes (shuts its send side) after reading the request, without an answer.</summary>
    public const string ProductionHalfCloses = "/f/production-half-closes";

    /// <summary>Production sends a status line that is not HTTP.</summary>
    public const string ProductionInvalid = "/f/production-invalid";

    /// <summary>Production sends a large response (<see cref="HugeBodyBytes"/>).</summary>
    public const string ProductionHuge = "/f/production-huge";

    /// <summary>
    /// Production sends the same large response as <see cref="ProductionHuge"/>, in 64 KiB pieces 10 ms apart (about
    /// 0.6 s in all): fast, it could all fit in the loopback sockets' buffers before a client that goes away is gone.
    /// </summary>
    public const string ProductionTrickles = "/f/production-trickles";

    /// <summary>Both answer 413 after the head, without reading the body.</summary>
    public const string EarlyAnswer = "/f/early-413";

    /// <summary>The shadow resets the connection after the head.</summary>
    public const string ShadowResets = "/f/shadow-resets";

    /// <summary>The shadow reads the request and never answers (until the proxy gives up on it).</summary>
    public const string ShadowSilent = "/f/shadow-silent";

    /// <summary>The shadow sends a status line that is not HTTP.</summary>
    public const string ShadowInvalid = "/f/shadow-invalid";

    /// <summary>The shadow half-closes after reading the request, without an answer.</summary>
    public const string ShadowHalfCloses = "/f/shadow-half-closes";

    /// <summary>The shadow sends a large response.</summary>
    public const string ShadowHuge = "/f/shadow-huge";

    public const int HugeBodyBytes = 4 * 1024 * 1024;

    private static readonly byte[] HugeResponse = BuildHuge();

    public FaultyBackends()
    {
        Production = LoopbackBackend.Start(ServeProductionAsync);
        Shadow = LoopbackBackend.Start(ServeShadowAsync);
    }

    public LoopbackBackend Production { get; }

    public LoopbackBackend Shadow { get; }

    public static string PathOf(string head)
    {
        string target = head.Split(' ', 3)[1];
        int query = target.IndexOf('?', StringComparison.Ordinal);
        return query < 0 ? target : target[..query];
    }

    public async ValueTask DisposeAsync()
    {
        await Production.DisposeAsync();
        await Shadow.DisposeAsync();
    }

    private static async Task ServeProductionAsync(BackendConnection connection)
    {
        string? head = await connection.ReadHeadAsync();
        if (head is null)
        {
            return;
        }

        switch (PathOf(head))
        {
            case ProductionCloses:
                return;
            case EarlyAnswer:
                await AnswerEarlyAsync(connection);
                return;
        }

        string path = PathOf(head);
        connection.RecordHeadOnly(head + await connection.ReadBodyAsync(head));
        switch (path)
        {
            case ProductionHalfCloses:
                connection.Socket.Shutdown(SocketShutdown.Send);
                await connection.WaitForCloseAsync();
                break;
            case ProductionInvalid:
                await connection.SendAsync("HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n");
                break;
            case ProductionHuge:
                await connection.SendAsync(HugeResponse);
                break;
            case ProductionTrickles:
                for (int start = 0; start < HugeResponse.Length; start += 64 * 1024)
                {
                    await connection.SendAsync(HugeResponse[start..Math.Min(start + (64 * 1024), HugeResponse.Length)]);
                    await Task.Delay(10);
                }

                break;
            default:
                await connection.SendAsync(ProductionOk);
                break;
        }
    }

    private static async Task ServeShadowAsync(BackendConnection connection)
    {
        string? head = await connection.ReadHeadAsync();
        if (head is null)
        {
            return;
        }

        switch (PathOf(head))
        {
            case ShadowResets:
                connection.Reset();
                return;
            case EarlyAnswer:
                await AnswerEarlyAsync(connection);
                return;
        }

        string path = PathOf(head);
        connection.RecordHeadOnly(head + await connection.ReadBodyAsync(head));
        switch (path)
        {
            case ShadowSilent:
                await connection.WaitForCloseAsync();
                break;
            case ShadowInvalid:
                await connection.SendAsync("SSH-2.0-OpenSSH_9.2\r\n\r\n");
                break;
            case ShadowHalfCloses:
                connection.Socket.Shutdown(SocketShutdown.Send);
                await connection.WaitForCloseAsync();
                break;
            case ShadowHuge:
                await connection.SendAsync(HugeResponse);
                break;
            default:
                await connection.SendAsync(ShadowOk);
                break;
        }
    }

    /// <summary>413 before the body was read, then a lingering close (read away the rest), as a server with a body limit does.</summary>
    private static async Task AnswerEarlyAsync(BackendConnection connection)
    {
        await connection.SendAsync("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        connection.Socket.Shutdown(SocketShutdown.Send);
        await connection.WaitForCloseAsync();
    }

    private static byte[] BuildHuge()
    {
        byte[] head = System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {HugeBodyBytes}\r\nConnection: close\r\n\r\n");
        byte[] response = new byte[head.Length + HugeBodyBytes];
        head.CopyTo(response, 0);
        response.AsSpan(head.Length).Fill((byte)'h');
        return response;
    }
}
