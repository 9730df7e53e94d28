using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ShadowProxy.Logging;
using ShadowProxy.Transport;

namespace ShadowProxy.Proxy;

/// <summary>
/// Binds the listening socket at start-up (a taken port fails start-up), accepts clients, tracks every connection,
/// and on stop: stops accepting, lets requests in flight finish within the drain timeout, then cuts the rest.
/// </summary>
internal sealed class ProxyServer : BackgroundService
{
    /// <summary>A rejected client's lingering close: enough for a request already sent, short since it still counts against the limit.</summary>
    private const int RejectLingerBytes = 64 * 1024;
    private static readonly TimeSpan RejectLingerTime = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Open clients past --max-connections, served and rejected together, at which a rejected client still lingers: each
    /// holds a descriptor for the linger, and a flood of them could otherwise use up the open-file limit
    /// (Hosting/DescriptorLimit.ProcessReserve keeps room for these). Not a bound on lingering rejections alone: when served
    /// clients leave while rejections linger, more than this many can linger, each in the place of a served client's
    /// three descriptors. Past it a rejected client gets its 503 and the close at once, after what it has sent so far
    /// is read away; a request still arriving then gets a reset.
    /// </summary>
    internal const int LingeringRejections = 64;

    private readonly ProxyOptions _options;
    private readonly IRequestLineSink _sink;
    private readonly ILogger<ProxyServer> _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<long, Task> _connections = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly BackendPools _pools;
    private readonly ShadowLauncher _shadows;
    private LoopListener? _listener;
    private readonly Action _clientClosed;
    private readonly DescriptorShortageLog _shortage;
    private readonly Action<int, long, int> _descriptorsShort;
    private long _nextConnectionId;
    private int _active;

    public ProxyServer(ProxyOptions options, IRequestLineSink sink, ILogger<ProxyServer> logger, TimeProvider time)
    {
        _options = options;
        _sink = sink;
        _logger = logger;
        _time = time;
        _pools = new BackendPools(options, time);
        _clientClosed = OnClientClosed;
        // An exception that escaped a continuation on an event loop: said on stderr, and the loop goes on.
        EventLoop.HandlerFailed = logger.ConnectionFailed;
        // Process-wide: the last server made says shortages, until it is disposed.
        _shortage = new DescriptorShortageLog(logger, time);
        _descriptorsShort = _shortage.Short;
        DescriptorHeadroom.Short = _descriptorsShort;
        _shadows = new ShadowLauncher(_pools.Shadow, new ShadowBufferBudget(options.MaxShadowBufferTotalBytes), options, time);
    }

    /// <summary>Request bytes held for shadows right now, across all requests.</summary>
    public long ShadowBufferedBytes => _shadows.BufferedBytes;

    /// <summary>The address actually bound (port 0 resolved), once started.</summary>
    public IPEndPoint? EndPoint => _listener?.LocalEndPoint as IPEndPoint;

    /// <summary>Client connections open right now.</summary>
    public int ActiveConnections => Volatile.Read(ref _active);

    /// <summary>
    /// Said once the listener is bound, just before "Listening on" (a lowered --max-connections): the operator reads the
    /// limit before the address, and a start that fails before this (a taken port) still says why in its one line.
    /// </summary>
    public Action? BeforeListening { get; init; }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // The shadow's loop starts with the proxy, not with the first copy: if it cannot be made (no descriptor for its
        // epoll or eventfd, no thread), the start fails and says so, where later every copy would fail and lose its line.
        _ = EventLoops.ShadowHandOver;
        var listener = new Socket(_options.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (_options.Listen.Address.Equals(IPAddress.IPv6Any))
            {
                // [::] takes IPv4 clients too (as IPv4-mapped addresses), whatever net.ipv6.bindv6only says: one
                // socket for a box whose port 80 is redirected from both iptables and ip6tables.
                listener.DualMode = true;
            }

            // No ReuseAddress: on Linux .NET turns it into SO_REUSEPORT too, and a second proxy started by mistake would
            // then silently share the port (and half the redirected traffic) instead of failing.
            listener.Bind(_options.Listen);
            listener.Listen(4096);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        var acceptLog = new AcceptFailureLog(_logger, _time);
        _listener = new LoopListener(listener, OnAccepted, acceptLog.Failed, acceptLog.AcceptingAgain);
        BeforeListening?.Invoke();
        _logger.Listening(listener.LocalEndPoint!, _options.Production, _options.Shadow);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _listener!.Start();
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping: StopAsync closes the listener.
        }
    }

    /// <summary>Runs on the event loop that accepted the client; the connection stays on that loop.</summary>
    private void OnAccepted(LoopSocket client)
    {
        int active = Interlocked.Increment(ref _active);
        if (DescriptorHeadroom.IsShortForClient(client.DescriptorNumber))
        {
            // The open-file limit was lowered, or descriptors taken, since start: the last ones are kept for the runtime
            // and for the backends of clients already served. No lingering close: it would hold the descriptor longer.
            Track(RejectAsync(client, linger: false), endsConnection: true);
            return;
        }

        if (_shortage.ShortageSaid)
        {
            _shortage.Over();
        }

        if (active > _options.MaxConnections)
        {
            _logger.ConnectionLimitReached(_options.MaxConnections, client.RemoteEndPoint);
            Track(RejectAsync(client, linger: active <= _options.MaxConnections + LingeringRejections), endsConnection: true);
            return;
        }

        // The connection stops counting as active when its client socket closes; its task (tracked for the
        // drain) may go on a while, until the shadows of its last requests have answered and their lines are out.
        var connection = new ProxyConnection(client, _pools, _shadows, _options, _sink, _logger, _time);
        Track(connection.RunAsync(_clientClosed, _shutdown.Token, _abort.Token), endsConnection: false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _listener?.Dispose();   // stop accepting first: a redirect in front of us should fail fast, not queue
        // Then tell the connections at once (an answer relayed from now on says Connection: close), not after the
        // idle ExecuteAsync has noticed the stop: that takes a trip through the thread pool.
        await _shutdown.CancelAsync().ConfigureAwait(false);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        List<Task> open = OpenConnections();
        _logger.Draining(_options.DrainTimeout, open.Count);
        Task drained = Task.WhenAll(open);
        try
        {
            await drained.WaitAsync(_options.DrainTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            List<Task> left = OpenConnections();   // nothing is accepted any more: these are all that can remain
            _logger.DrainTimedOut(left.Count);
            await _abort.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(left).ConfigureAwait(false);
        }

        await _pools.DisposeAsync().ConfigureAwait(false);
        _logger.Stopped();
    }

    public override void Dispose()
    {
        DescriptorHeadroom.Forget(_descriptorsShort);
        _listener?.Dispose();
        _shutdown.Dispose();
        _abort.Dispose();
        base.Dispose();
    }

    /// <summary>
    /// The connections' tasks, by enumerating the dictionary: its Count and Values take every lock, and the first
    /// time they do, also start the collections' EventSource (its reflection-heavy start-up failed once under arm64
    /// emulation and took the drain down with it).
    /// </summary>
    private List<Task> OpenConnections()
    {
        var open = new List<Task>();
        foreach (KeyValuePair<long, Task> connection in _connections)
        {
            open.Add(connection.Value);
        }

        return open;
    }

    /// <param name="endsConnection">Whether the task's end is also the end of the client's connection (a rejection).</param>
    private void Track(Task connection, bool endsConnection)
    {
        long id = Interlocked.Increment(ref _nextConnectionId);
        _connections[id] = connection;
        connection.ContinueWith(
            (_, state) =>
            {
                var (server, connectionId, ends) = ((ProxyServer, long, bool))state!;
                server._connections.TryRemove(connectionId, out Task? _);
                if (ends)
                {
                    server.OnClientClosed();
                }
            },
            (this, id, endsConnection),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void OnClientClosed() => Interlocked.Decrement(ref _active);

    /// <summary>
    /// The 503, then a short lingering close: the client has usually sent its request already, and closing over it
    /// unread would reset the connection under the answer. Short, because rejected clients keep counting against the
    /// limit until they are closed.
    /// </summary>
    /// <param name="linger">False past <see cref="LingeringRejections"/>, and when short of descriptors: the 503, what has
    /// arrived read away, then the close at once.</param>
    private static async Task RejectAsync(LoopSocket client, bool linger)
    {
        bool answered = false;
        try
        {
            await client.SendAsync(ErrorResponses.ServiceUnavailable, CancellationToken.None).ConfigureAwait(false);
            answered = true;
        }
        catch (SocketException)
        {
            // The client is gone already.
        }

        if (answered && !linger)
        {
            // No waiting, but the request already sent is read away: left unread, it would turn the close into a reset.
            client.DiscardArrived(RejectLingerBytes);
        }

        await LingeringClose.CloseAsync(client, drain: answered && linger, RejectLingerTime, RejectLingerBytes).ConfigureAwait(false);
    }
}
