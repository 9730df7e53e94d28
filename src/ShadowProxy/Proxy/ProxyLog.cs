using System.Net;
using Microsoft.Extensions.Logging;
using ShadowProxy.Http;

namespace ShadowProxy.Proxy;

/// <summary>The proxy's diagnostics, each with an event id (stderr; never the request-line stream).</summary>
internal static partial class ProxyLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Listening on {Listen}; production {Production}, shadow {Shadow}")]
    public static partial void Listening(this ILogger logger, EndPoint listen, IPEndPoint production, IPEndPoint shadow);

    /// <summary>The drain timeout in seconds, as --drain-timeout takes it: a TimeSpan would print 00:00:30, or 00:00:00.5000000.</summary>
    public static void Draining(this ILogger logger, TimeSpan drainTimeout, int active) => DrainingFor(logger, drainTimeout.TotalSeconds, active);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Stopping: no new connections; waiting up to {DrainSeconds} s for {Active} in flight")]
    private static partial void DrainingFor(ILogger logger, double drainSeconds, int active);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Drain timeout passed: cutting {Active} connections still in flight")]
    public static partial void DrainTimedOut(this ILogger logger, int active);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Stopped")]
    public static partial void Stopped(this ILogger logger);

    /// <summary>The reason in words: the enum's own names (Malformed, TooLarge) mean little to an operator.</summary>
    public static void RequestRejected(this ILogger logger, EndPoint? client, HeadReadStatus reason, int status) =>
        RequestRejectedFor(
            logger,
            client,
            reason == HeadReadStatus.TooLarge ? "its head is larger than --max-head-size" : "not a valid HTTP/1.x request head, or one that could be read two ways",
            status);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "Rejected a request from {Client}: {Reason} ({Status})")]
    private static partial void RequestRejectedFor(ILogger logger, EndPoint? client, string reason, int status);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Connection limit of {Limit} reached: answered 503 to {Client}")]
    public static partial void ConnectionLimitReached(this ILogger logger, int limit, EndPoint? client);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "Client {Client} sent a malformed chunked body for {Method} {Url}")]
    public static partial void MalformedBody(this ILogger logger, EndPoint? client, string method, string url);

    [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Production failed for {Method} {Url}: {Error}; client got {Status}")]
    public static partial void ProductionFailed(this ILogger logger, string method, string url, BackendError error, int status);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Production failed for {Method} {Url} after the response had started: {Error}; client connection cut")]
    public static partial void ProductionFailedMidResponse(this ILogger logger, string method, string url, BackendError error);

    [LoggerMessage(EventId = 30, Level = LogLevel.Error, Message = "Unexpected error on a client connection")]
    public static partial void ConnectionFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 31, Level = LogLevel.Error, Message = "Accepting connections failed")]
    public static partial void AcceptFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventId = 32, Level = LogLevel.Information, Message = "Accepting connections again after {Failures} failures")]
    public static partial void AcceptingAgain(this ILogger logger, long failures);

    [LoggerMessage(EventId = 33, Level = LogLevel.Warning, Message = "Open files near the limit: at least {InUse} of {Limit} descriptors in use; {GivenUp} new connections given up since the last such line (clients got 503, backend connections count as refused: 502), so that {Headroom} stay free for the .NET runtime, which ends the process when it cannot start a thread. Raise the open-file limit (ulimit -n, LimitNOFILE)")]
    public static partial void DescriptorsShort(this ILogger logger, long limit, int inUse, long givenUp, int headroom);

    [LoggerMessage(EventId = 34, Level = LogLevel.Information, Message = "Open files no longer near the limit: a client was taken with descriptors to spare; {GivenUp} new connections given up after the last such line")]
    public static partial void DescriptorsNoLongerShort(this ILogger logger, long givenUp);
}
