using System.Net.Sockets;
using System.Text;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reliability;

/// <summary>
/// The built program under a low open-file limit (`ulimit -n`). At the limit it could not accept, and the runtime
/// itself could not start a thread or a timer: it ended with "Out of memory." It now keeps within the limit.
/// </summary>
[Collection(RealProcess.Collection)]
public sealed class ProcessDescriptorLimitTests
{
    private const string Ok = FaultyBackends.ProductionOk;

    /// <summary>
    /// 400 descriptors: 256 kept for the process (its two event loops' 4 among them), 3 for each client (its own,
    /// production's, the shadow's): 48 clients.
    /// </summary>
    private static async Task<ProxyProcess> StartWith400DescriptorsAsync(System.Net.IPEndPoint production, System.Net.IPEndPoint shadow, params string[] options)
    {
        ProxyProcess proxy = await ProxyProcess.StartAfterAsync("ulimit -n 400", production, shadow, options);
        await proxy.WaitForStderrAsync("--max-connections 10000 lowered to 48: the open-file limit (ulimit -n, LimitNOFILE) is 400");
        return proxy;
    }

    [Fact]
    public async Task It_says_that_it_lowered_the_connection_limit_before_it_says_where_it_listens()
    {
        // An operator reading the start-up sees the limit the proxy runs with first, not after the address.
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using ProxyProcess proxy = await StartWith400DescriptorsAsync(production.EndPoint, shadow.EndPoint);

        string stderr = proxy.Stderr;
        int lowered = stderr.IndexOf("--max-connections 10000 lowered to 48", StringComparison.Ordinal);
        int listening = stderr.IndexOf("Listening on ", StringComparison.Ordinal);
        Assert.True(lowered >= 0 && listening > lowered, "the lowered limit should come before 'Listening on': " + stderr);
    }

    [Fact]
    public async Task More_event_loops_keep_more_descriptors_for_the_process_as_many_as_they_open()
    {
        // One client loop, then four (each with the shadow's loop): the three loops more hold EventLoop.Descriptors each
        // (an epoll and an eventfd, in /proc/PID/fd), and the limit keeps that many more for the process: 262 of the 400,
        // (400 - 262) / 3 = 46 clients.
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using ProxyProcess oneLoop = await ProxyProcess.StartAfterAsync(
            "ulimit -n 400; export SHADOWPROXY_IO_THREADS=1 SHADOWPROXY_SHADOW_LOOP=on", production.EndPoint, shadow.EndPoint);
        await using ProxyProcess fourLoops = await ProxyProcess.StartAfterAsync(
            "ulimit -n 400; export SHADOWPROXY_IO_THREADS=4 SHADOWPROXY_SHADOW_LOOP=on", production.EndPoint, shadow.EndPoint);
        await oneLoop.WaitForStderrAsync("--max-connections 10000 lowered to 48:");
        await fourLoops.WaitForStderrAsync("--max-connections 10000 lowered to 46:");
        // A request served: the listener has started on every loop (they start with it, after "Listening on").
        Assert.Equal(Ok, await RawHttp.SendAsync(oneLoop.EndPoint, "GET /one HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        Assert.Equal(Ok, await RawHttp.SendAsync(fourLoops.EndPoint, "GET /four HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));

        Assert.True(
            LoopDescriptors(fourLoops) - LoopDescriptors(oneLoop) == 3 * ShadowProxy.Transport.EventLoop.Descriptors,
            $"one loop: {oneLoop.DescribeDescriptors()}; four: {fourLoops.DescribeDescriptors()}");
        Assert.Contains("beside 262 for the process (2 for each of its 5 event loops among them)", fourLoops.Stderr, StringComparison.Ordinal);
    }

    private static int LoopDescriptors(ProxyProcess proxy) =>
        proxy.OpenDescriptors("anon_inode:[eventpoll]") + proxy.OpenDescriptors("anon_inode:[eventfd]");

    [Fact]
    public async Task Under_a_low_limit_it_serves_the_clients_that_fit_answers_the_rest_503_and_never_runs_out()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using ProxyProcess proxy = await StartWith400DescriptorsAsync(production.EndPoint, shadow.EndPoint, "--client-timeout", "60");

        // 48 clients that connect and say nothing yet hold their places.
        var held = new List<Socket>();
        try
        {
            for (int i = 0; i < 48; i++)
            {
                var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await client.ConnectAsync(proxy.EndPoint);
                held.Add(client);
            }

            // Far more than the descriptors left, all open at once: each is answered 503 and closed, none waits, and the
            // proxy never reaches the limit. Without the lower limit they were taken as clients until accept failed.
            var turnedAway = new List<Socket>();
            try
            {
                for (int i = 0; i < 300; i++)
                {
                    var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
                    turnedAway.Add(client);
                    await client.ConnectAsync(proxy.EndPoint);
                    using var stream = new NetworkStream(client, ownsSocket: false);
                    string answer = await RawHttp.ReadToEndAsync(stream, TimeSpan.FromSeconds(10));
                    Assert.StartsWith("HTTP/1.1 503 ", answer, StringComparison.Ordinal);
                }
            }
            finally
            {
                turnedAway.ForEach(client => client.Dispose());
            }

            Assert.False(proxy.HasExited, "the proxy ended: " + proxy.Stderr);

            // The held clients are served when they speak, and their requests are mirrored and logged.
            for (int i = 0; i < held.Count; i += 12)
            {
                await held[i].SendAsync(Encoding.ASCII.GetBytes($"GET /held/{i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
                using var stream = new NetworkStream(held[i], ownsSocket: false);
                Assert.Equal(Ok, await RawHttp.ReadToEndAsync(stream, TimeSpan.FromSeconds(10)));
            }
        }
        finally
        {
            held.ForEach(client => client.Dispose());
        }

        // And once they have gone, new clients are served again.
        Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); proxy.StdoutLineCount < 5 && waited.Elapsed < TimeSpan.FromSeconds(10);)
        {
            await Task.Delay(20);
        }

        Assert.Equal(5, proxy.StdoutLineCount);   // four held clients' requests and the last one's
        Assert.DoesNotContain("Accepting connections failed", proxy.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Out of memory", proxy.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// The limit lowered while the proxy runs (`prlimit --pid`), which the measures at start cannot foresee. The
    /// runtime needs descriptors of its own at any moment: a thread-pool worker takes three to start (it reads
    /// /sys/devices/system/cpu/possible and makes a pipe), and .NET lets a worker that cannot start end the process
    /// with "Out of memory." Idle workers exit after 20 s (here after 50 ms, so that the next work item needs a new
    /// one at once), and the client timeout's sweep is such a work item: with the clients holding the last
    /// descriptors it ended the proxy. Now the proxy leaves some free, answering 503 to the clients past them.
    /// </summary>
    [Fact]
    public async Task A_limit_lowered_while_it_runs_leaves_descriptors_for_the_runtime_and_the_clients_past_it_get_503()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        await using ProxyProcess proxy = await ProxyProcess.StartAfterAsync(
            "export DOTNET_ThreadPool_ThreadTimeoutMs=50", production.EndPoint, shadow.EndPoint, "--client-timeout", "1");
        Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, "GET /before HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));

        // Room for 40 more descriptors: far fewer than the 100 clients that then connect and say nothing.
        await proxy.SetOpenFileLimitAsync(proxy.OpenDescriptors() + 40);
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 100; i++)
            {
                var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(proxy.EndPoint);
            }

            // Each one ends: with a 503 at once when the proxy had no descriptors to spare for it, or closed without
            // an answer when the client timeout's sweep finds it silent.
            string[] answers = await Task.WhenAll(clients.Select(ReadToEndOrResetAsync));
            Assert.False(proxy.HasExited, "the proxy ended: " + proxy.Stderr);
            Assert.All(answers, answer => Assert.True(
                answer.Length == 0 || answer.StartsWith("HTTP/1.1 503 ", StringComparison.Ordinal),
                $"'{answer}'; the proxy {(proxy.HasExited ? "ended" : "runs")}: {proxy.Stderr}"));
            Assert.Contains(answers, answer => answer.Length > 0);
        }
        finally
        {
            clients.ForEach(client => client.Dispose());
        }

        // Descriptors are free again: served as before, under the lowered limit.
        Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        Assert.False(proxy.HasExited, "the proxy ended: " + proxy.Stderr);
        await proxy.WaitForStderrAsync("Open files near the limit");
        await proxy.WaitForStderrAsync("Open files no longer near the limit");   // said by the client taken after
        Assert.DoesNotContain("Accepting connections failed", proxy.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Out of memory", proxy.Stderr, StringComparison.Ordinal);

        static async Task<string> ReadToEndOrResetAsync(Socket client)
        {
            try
            {
                using var stream = new NetworkStream(client, ownsSocket: false);
                return await RawHttp.ReadToEndAsync(stream, TimeSpan.FromSeconds(20));
            }
            catch (IOException ex)
            {
                return "reset: " + ex.Message;
            }
        }
    }

    /// <summary>
    /// The budget counts a client's shadow socket only while the client is connected, and a shadow copy outlives its
    /// client (the line waits for it; --shadow-timeout bounds it, 60 s by default): copies in flight are bounded by
    /// --max-connections too, or a slow shadow could hold far more sockets than there are clients.
    /// </summary>
    [Fact]
    public async Task A_silent_shadow_does_not_take_the_proxy_past_its_open_file_limit()
    {
        await using var backends = new FaultyBackends();
        await using ProxyProcess proxy = await StartWith400DescriptorsAsync(backends.Production.EndPoint, backends.Shadow.EndPoint);

        // One client at a time, each gone before the next: never more than one client, well within the 48.
        for (int i = 0; i < 400; i++)
        {
            string answer = await RawHttp.SendAsync(proxy.EndPoint, $"GET {FaultyBackends.ShadowSilent}?n={i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(answer == Ok, $"request {i}: '{answer}', {proxy.OpenDescriptors()} descriptors open; " + proxy.Stderr);
        }

        Assert.DoesNotContain("Accepting connections failed", proxy.Stderr, StringComparison.Ordinal);
    }
}
