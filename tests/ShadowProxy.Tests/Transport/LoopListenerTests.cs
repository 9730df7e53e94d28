using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Transport;

/// <summary>The loops' listener when accepting itself fails (out of descriptors, or as here a listener shut down).</summary>
public sealed class LoopListenerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_failing_accept_is_reported_about_every_100_ms_and_tried_again_not_retried_at_once()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen();
        var accepted = new ConcurrentQueue<LoopSocket>();
        int failures = 0;
        using var listener = new LoopListener(socket, accepted.Enqueue, _ => Interlocked.Increment(ref failures));
        listener.Start();
        await ConnectAndWaitForAcceptAsync((IPEndPoint)socket.LocalEndPoint!, accepted);

        // A shut-down listener keeps reporting a hang-up and every accept fails (EINVAL): the state a listener out of
        // descriptors is in. The loop steps back after each failure and comes back to try again.
        socket.Shutdown(SocketShutdown.Both);
        DateTime deadline = DateTime.UtcNow + Patience;
        while (Volatile.Read(ref failures) < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(Volatile.Read(ref failures) >= 3, "the paused loop never came back to accept again");

        // Retried at once, the failures would be thousands a second; paused, one per 100 ms.
        int before = Volatile.Read(ref failures);
        var watch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        int during = Volatile.Read(ref failures) - before;
        Assert.InRange(during, 0, 2 + (int)(watch.Elapsed.TotalMilliseconds / 100 * 2));

        foreach (LoopSocket client in accepted)
        {
            client.Dispose();
        }
    }

    private static async Task ConnectAndWaitForAcceptAsync(IPEndPoint endpoint, ConcurrentQueue<LoopSocket> accepted)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(endpoint).WaitAsync(Patience);
        DateTime deadline = DateTime.UtcNow + Patience;
        while (accepted.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Single(accepted);
    }
}
