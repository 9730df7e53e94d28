using System.Net;

namespace ShadowProxy.Proxy;

/// <summary>Every address, limit and timeout the proxy runs with, validated before anything listens.</summary>
internal sealed record ProxyOptions
{
    public required IPEndPoint Listen { get; init; }

    public required IPEndPoint Production { get; init; }

    public required IPEndPoint Shadow { get; init; }

    /// <summary>Which requests the shadow gets and how its copy is marked; reloaded from the settings file while running.</summary>
    public Mirroring.MirrorPolicySource Mirror { get; init; } = new(Mirroring.MirrorPolicy.MirrorAll);

    /// <summary>
    /// Production may be silent this long (connecting, or between reads, while it takes no body) before the client gets 504.
    /// </summary>
    public TimeSpan ProductionTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The whole shadow exchange may take this long; it never holds up production.</summary>
    public TimeSpan ShadowTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Making a backend connection; a box-local backend that takes longer is not coming. Capped by each side's own timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A client may be silent this long while the proxy waits for its head or body (Kestrel's RequestHeadersTimeout is
    /// 30 s); a tunnel (Upgrade, CONNECT) is closed after this long without traffic either way.
    /// </summary>
    public TimeSpan ClientTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A keep-alive client connection may sit idle this long between requests (Kestrel's KeepAliveTimeout is 130 s; nginx's 75 s).</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>On shutdown, requests in flight get this long to finish before they are cut.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After a last answer to a client that may still send: how long at most to read away what it sends before the
    /// close (RFC 9112 §9.6). Not an option of the command line; the drain's abort ends it sooner.
    /// </summary>
    public TimeSpan LingerTime { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A request head, request line and fields (Kestrel's MaxRequestHeadersTotalSize is 32 KiB).</summary>
    public int MaxRequestHeadBytes { get; init; } = 32 * 1024;

    /// <summary>A backend's response head; larger than the request's, for big Set-Cookie fields (nginx's largest proxy buffer is 8 KiB by default).</summary>
    public int MaxResponseHeadBytes { get; init; } = 64 * 1024;

    /// <summary>Request bytes held for a shadow that reads slower than the client sends; past it the shadow copy is abandoned.</summary>
    public int MaxShadowBufferBytes { get; init; } = 1024 * 1024;

    /// <summary>Request bytes held for all slow shadows together: the proxy's memory for shadows stays bounded whatever the load.</summary>
    public long MaxShadowBufferTotalBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Client connections served at once; past it a client gets a fast 503 (Kestrel has no default cap; this one bounds memory).</summary>
    public int MaxConnections { get; init; } = 10_000;

    /// <summary>Keep client connections open across requests (backends still get Connection: close).</summary>
    public bool ClientKeepAlive { get; init; } = true;

    /// <summary>Reuse backend connections (requests ask for keep-alive); off keeps em-proxy's Connection: close.</summary>
    public bool BackendKeepAlive { get; init; }

    /// <summary>An idle backend connection is closed after this long: below Apache's 5 s KeepAliveTimeout, so the proxy, not the backend, closes first.</summary>
    public TimeSpan BackendIdleTimeout { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Idle connections kept per backend (nginx's upstream keepalive is set per worker in the tens to hundreds).</summary>
    public int MaxIdleBackendConnections { get; init; } = 256;

    /// <summary>How the two response bodies are compared (hash, or JSON with ignored fields).</summary>
    public Compare.BodyComparison Comparison { get; init; } = Compare.BodyComparison.Plain;
}
