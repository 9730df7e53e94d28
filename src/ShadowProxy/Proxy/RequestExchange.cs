using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using ShadowProxy.Http;
using ShadowProxy.Logging;

namespace ShadowProxy.Proxy;

/// <summary>
/// One request, fanned out: production gets the rewritten head and the body as it arrives, and its response streams
/// to the client; the shadow's copy runs on its own (<see cref="ShadowExchange"/>). Production's failures become
/// 502 or 504 while nothing of its response has reached the client.
/// </summary>
internal sealed class RequestExchange
{
    private readonly RequestHead _request;
    private readonly Stream _client;
    private readonly PipeReader _input;
    private readonly ProxyOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly EndPoint? _remote;
    private readonly BackendPools _pools;
    private CancellationToken _shutdown;
    private RequestBodyPump? _pump;

    public RequestExchange(
        RequestHead request,
        Stream client,
        PipeReader input,
        BackendPools pools,
        ProxyOptions options,
        TimeProvider time,
        ILogger logger,
        EndPoint? remote)
    {
        _pools = pools;
        _request = request;
        _client = client;
        _input = input;
        _options = options;
        _time = time;
        _logger = logger;
        _remote = remote;
    }

    /// <summary>Upgrade and CONNECT are tunnelled to production alone: a duplicated WebSocket session would do harm.</summary>
    public static bool IsTunnel(in RequestHead request) => request.IsUpgrade || request.IsConnect;

    public async Task<ExchangeResult> RunAsync(
        ReadOnlyMemory<byte> head, ShadowExchange? shadow, long firstByte, InactivityTimer clientTimer, CancellationToken shutdown, CancellationToken abort)
    {
        _shutdown = shutdown;
        DateTimeOffset started = _time.GetUtcNow() - _time.GetElapsedTime(firstByte);
        using var productionTimer = new InactivityTimer(_options.ProductionTimeout, abort);
        productionTimer.Start();

        // A reused connection that the backend closed at the moment it was taken fails before any answer: a request
        // without a body is then sent once more on a new connection (one with a body has been consumed already). Only
        // an idempotent one: the backend may have acted on it before it failed (RFC 9110 §9.2.2).
        for (int attempt = 1; ; attempt++)
        {
            BackendLink? link = null;
            try
            {
                // Connecting gets the shorter of the connect and production timeouts; then production's own applies.
                productionTimer.Restart(_options.ConnectTimeout < _options.ProductionTimeout ? _options.ConnectTimeout : _options.ProductionTimeout);
                link = _pools.Production.Rent(productionTimer.Token, out ValueTask connected);
                await connected.ConfigureAwait(false);
                productionTimer.Start();
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                if (link is not null)
                {
                    await _pools.Production.ReturnAsync(link, reusable: false).ConfigureAwait(false);
                }

                BackendError error = ex is OperationCanceledException ? BackendError.Timeout : BackendFailure.Classify(ex, timedOut: false);
                return await FailAsync(error, started, shadow).ConfigureAwait(false);
            }

            bool retryable = link.MayResend(attempt, hasBody: _request.Body != BodyKind.None, KnownMethods.IsIdempotent(_request.Method));
            bool reusable = false;
            bool timedOut = false;
            try
            {
                try
                {
                    await link.Stream.WriteAsync(head, productionTimer.Token).ConfigureAwait(false);
                }
                catch (IOException) when (retryable)
                {
                    continue;
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException)
                {
                    timedOut = ex is OperationCanceledException;
                    return await FailAsync(timedOut ? BackendError.Timeout : BackendError.Reset, started, shadow).ConfigureAwait(false);
                }

                (RelayOutcome outcome, BodyOutcome body) = await ForwardAsync(link, shadow, firstByte, clientTimer, productionTimer).ConfigureAwait(false);
                timedOut = outcome.Error == BackendError.Timeout && !IsClientFault(body) && !outcome.ClientFailed;
                if (retryable && outcome.LostBeforeAnswer && !outcome.ClientWritten)
                {
                    continue;
                }

                bool tunnelled = false;
                if (IsTunnel(_request) && outcome.Error == BackendError.None && !outcome.ClientFailed
                    && (outcome.StatusCode == 101 || (_request.IsConnect && outcome.StatusCode is >= 200 and < 300)))
                {
                    await TunnelAsync(link.Input, link.Stream, abort).ConfigureAwait(false);
                    tunnelled = true;
                }

                reusable = !IsTunnel(_request) && outcome.Error == BackendError.None && !outcome.ClientFailed
                    && body == BodyOutcome.Complete && !outcome.BackendWantsClose;
                return await FinishAsync(outcome, body, tunnelled, started, firstByte).ConfigureAwait(false);
            }
            finally
            {
                productionTimer.StillBusy = null;   // set by ForwardAsync: this link's intake
                if (timedOut)
                {
                    link.ResetIfUnacknowledged();   // the client has its 504 (or a cut answer): a late delivery would act on it still
                }

                await _pools.Production.ReturnAsync(link, reusable).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Streams the body to production while its response streams to the client; returns how each ended.</summary>
    private async Task<(RelayOutcome Outcome, BodyOutcome Body)> ForwardAsync(
        BackendLink link, ShadowExchange? shadow, long firstByte, InactivityTimer clientTimer, InactivityTimer productionTimer)
    {
        // Production is not silent while it answers, nor while it takes the body (a long upload): either restarts its
        // timer, also while it works through body bytes that the kernel buffered after the last write.
        // (Unset by the caller once this link is done with: not a try/finally here, which would cost an async layer.)
        ProductionIntake? intake = ProductionIntake.IsUseful(_request) ? new ProductionIntake(link.Socket, productionTimer) : null;
        productionTimer.StillBusy = intake is null ? null : intake.NextDeadline;
        var relay = new ResponseRelay(link.Input, _client, _options.MaxResponseHeadBytes, _time)
        {
            Progress = intake is null ? productionTimer.Start : intake.AnswerRead,
            ClientConnection = DecideClientConnection,
            RequestStart = firstByte,
            Comparison = _options.Comparison,
            UpgradeRequested = _request.IsUpgrade,
            ClientTakesInterim = _request.Version == Http.HttpVersion.Http11,
        };
        _pump = new RequestBodyPump(_input, link.Stream, shadow, clientTimer) { Progress = intake is null ? null : intake.BodyWritten };
        Task<BodyOutcome> pumping = PumpAsync(_pump, shadow, productionTimer.Token);
        Task<RelayOutcome> relaying = relay.RunAsync(_request.IsHead, _request.IsConnect, productionTimer.Token);
        if ((pumping.IsCompleted || await Task.WhenAny(pumping, relaying).ConfigureAwait(false) == pumping) && IsClientFault(pumping.Result))
        {
            productionTimer.Cancel();   // production would wait for a body that is not coming
        }

        RelayOutcome outcome = await relaying.ConfigureAwait(false);
        if (!pumping.IsCompleted && !_pump.LastBytesHandedOver)
        {
            // Production has answered early: the rest of the body is not wanted, by the client read or a stuck write.
            _input.CancelPendingRead();
            productionTimer.Cancel();
        }

        return (outcome, await pumping.ConfigureAwait(false));
    }

    private async Task<ExchangeResult> FinishAsync(
        RelayOutcome outcome, BodyOutcome body, bool tunnelled, DateTimeOffset started, long firstByte)
    {
        bool clientFault = IsClientFault(body) || outcome.ClientFailed;
        BackendError error = clientFault ? BackendError.Aborted : outcome.Error;
        if (!outcome.ClientWritten && (body == BodyOutcome.Malformed || (error != BackendError.None && !clientFault)))
        {
            ReadOnlyMemory<byte> answer = body == BodyOutcome.Malformed ? ErrorResponses.BadRequest : ErrorResponses.ForProductionError(error);
            await TryWriteClientAsync(ErrorResponses.For(answer, _request.IsHead)).ConfigureAwait(false);
            if (body == BodyOutcome.Malformed)
            {
                _logger.MalformedBody(_remote, _request.Method, _request.Target);
            }
            else
            {
                _logger.ProductionFailed(_request.Method, _request.Target, error, error == BackendError.Timeout ? 504 : 502);
            }
        }
        else if (error != BackendError.None && !clientFault)
        {
            _logger.ProductionFailedMidResponse(_request.Method, _request.Target, error);
        }

        TimeSpan? elapsed = error != BackendError.None ? null
            : tunnelled ? _time.GetElapsedTime(firstByte)
            : _time.GetElapsedTime(firstByte, outcome.LastReadTimestamp);
        var production = new BackendResult(outcome.StatusCode, elapsed, outcome.Bytes, error) { Facts = outcome.Facts };
        bool keepOpen = _options.ClientKeepAlive && !IsTunnel(_request) && !outcome.AnnouncedClose
            && error == BackendError.None && body == BodyOutcome.Complete;
        var record = new RequestRecord(started, _request.Method, _request.Target, production, default);
        return new ExchangeResult(keepOpen, RequestUnread: body != BodyOutcome.Complete, record)
        {
            // The client frames this answer by the close (no length; or chunked, which an HTTP/1.0 client cannot read):
            // only a reset tells it that the answer was cut. A length or chunked framing shows the cut by itself.
            ResetClient = outcome.ClientWritten && error != BackendError.None && !clientFault && ClientFramesByClose(outcome.Body),
            UnreadBodyLength = _pump?.UnreadLength ?? 0,
        };
    }

    /// <summary>Production failed before its answer began: the client gets 502 or 504, and the shadow's copy ends too.</summary>
    private async Task<ExchangeResult> FailAsync(BackendError error, DateTimeOffset started, ShadowExchange? shadow)
    {
        // A body that was not forwarded whole is not forwarded to the shadow whole either.
        SettleShadow(shadow, _request.Body == BodyKind.None ? BodyOutcome.Complete : BodyOutcome.Cancelled);
        int status = error == BackendError.Timeout ? 504 : 502;
        _logger.ProductionFailed(_request.Method, _request.Target, error, status);
        await TryWriteClientAsync(ErrorResponses.For(ErrorResponses.ForProductionError(error), _request.IsHead)).ConfigureAwait(false);
        var record = new RequestRecord(started, _request.Method, _request.Target, BackendResult.Failed(error), default);
        return new ExchangeResult(false, RequestUnread: _request.Body != BodyKind.None, record)
        {
            UnreadBodyLength = RequestBodyPump.UnreadLengthOf(_request),
        };
    }

    private async Task<BodyOutcome> PumpAsync(RequestBodyPump pump, ShadowExchange? shadow, CancellationToken productionToken)
    {
        BodyOutcome outcome = await pump.PumpAsync(_request, productionToken).ConfigureAwait(false);
        SettleShadow(shadow, outcome);
        return outcome;
    }

    private static void SettleShadow(ShadowExchange? shadow, BodyOutcome body)
    {
        if (body == BodyOutcome.Complete)
        {
            shadow?.CompleteRequest();
        }
        else
        {
            shadow?.CutRequest();
        }
    }

    /// <summary>
    /// Production's own Connection: close answers the proxy's request; the client's connection follows its own rules.
    /// Without client keep-alive every answer says close (RFC 9112 §9.6), whatever production said about its connection;
    /// so does a tunnel request's answer that is not the switch (the relay passes that one on as it is): the connection
    /// ends after any tunnel request, and the client must know, or a request it pipelined behind is lost without a word.
    /// </summary>
    private ClientConnectionField DecideClientConnection(ResponseHead response)
    {
        // A chunked answer to an HTTP/1.0 request (which production must not send: RFC 9112 §6.1) is one the client
        // cannot frame: it knows no chunked coding and sees no length, so it reads to the close, which must then come.
        bool close = !_options.ClientKeepAlive || _request.ClientWantsClose || ClientFramesByClose(response.Body) || _pump?.LastBytesHandedOver != true
            || _shutdown.IsCancellationRequested || IsTunnel(_request);
        // An HTTP/1.0 request or answer persists only with keep-alive said (RFC 9112 §9.3): without it the client takes
        // the connection to close after this answer, whatever the proxy means to do.
        return new ClientConnectionField(
            close, KeepAliveNeeded: !close && (_request.Version == Http.HttpVersion.Http10 || response.Version == Http.HttpVersion.Http10));
    }

    /// <summary>The client can tell this answer's end only by the close: no length, or chunked to an HTTP/1.0 client (which cannot read it).</summary>
    private bool ClientFramesByClose(BodyKind body) =>
        body == BodyKind.CloseDelimited || (body == BodyKind.Chunked && _request.Version == Http.HttpVersion.Http10);

    private static bool IsClientFault(BodyOutcome body) => body is BodyOutcome.ClientClosed or BodyOutcome.Malformed or BodyOutcome.TimedOut;

    private async Task TryWriteClientAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            await _client.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The client is gone; the request line still records what happened.
        }
    }

    /// <summary>
    /// After 101 or a CONNECT's 2xx the connection carries another protocol: copy both ways until either side ends, or
    /// until neither has sent anything for the client timeout (an idle tunnel would hold two connections for ever).
    /// </summary>
    private async Task TunnelAsync(PipeReader productionInput, Stream production, CancellationToken abort)
    {
        using var idle = new InactivityTimer(_options.ClientTimeout, abort);
        idle.Start();
        Task upstream = CopyAsync(_input, production, idle);
        Task downstream = CopyAsync(productionInput, _client, idle);
        await Task.WhenAny(upstream, downstream).ConfigureAwait(false);
        _input.CancelPendingRead();
        productionInput.CancelPendingRead();
        await Task.WhenAll(upstream, downstream).ConfigureAwait(false);
    }

    private static async Task CopyAsync(PipeReader from, Stream to, InactivityTimer idle)
    {
        try
        {
            while (true)
            {
                ReadResult result = await from.ReadAsync(idle.Token).ConfigureAwait(false);
                idle.Start();   // traffic in either direction keeps the tunnel open
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    await to.WriteAsync(segment, idle.Token).ConfigureAwait(false);
                }

                from.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }
        catch (IOException)
        {
            // Either side closed: the tunnel is over.
        }
        catch (OperationCanceledException)
        {
            // Idle for the whole timeout, or the drain timed out: the tunnel is over.
        }
    }
}
