using ShadowProxy.Mirroring;

namespace ShadowProxy.Proxy;

/// <summary>
/// Decides whether a request gets a shadow copy (the current mirroring policy, the in-flight cap; never a tunnel) and
/// starts it, marked as the policy says, on the shadow's pool and within the shared shadow buffer budget.
/// </summary>
internal sealed class ShadowLauncher(BackendPool pool, ShadowBufferBudget budget, ProxyOptions options, TimeProvider time)
{
    private readonly Action _exit = options.Mirror.Exit;   // one delegate for all copies, not a continuation each

    /// <summary>Request bytes held for shadows right now, across all requests.</summary>
    public long BufferedBytes => budget.Used;

    /// <param name="clientHead">The head as the client sent it: what the policy's sampling key is read from.</param>
    /// <param name="backendHead">The head as the backends get it.</param>
    /// <returns>The started copy (null when skipped), why it was skipped, and the policy it was decided by.</returns>
    public (ShadowExchange? Shadow, ShadowSkip Skip, MirrorPolicy Policy) Launch(
        in Http.RequestHead request,
        ReadOnlySpan<byte> clientHead,
        ReadOnlySpan<byte> backendHead,
        bool tunnel,
        long firstByte,
        CancellationToken abort)
    {
        MirrorPolicy policy = options.Mirror.Current;
        ShadowSkip skip = tunnel ? ShadowSkip.Tunnel : policy.Decide(request, clientHead);
        // Never more copies than --max-connections, whatever --shadow-max-inflight says: a copy outlives its client
        // (the line waits for it, up to --shadow-timeout), and the open-file budget (Hosting/DescriptorLimit) has one
        // shadow socket per client. Unbounded, a slow shadow held a socket per request until the limit was reached.
        int maxInflight = policy.MaxInflight > 0 ? Math.Min(policy.MaxInflight, options.MaxConnections) : options.MaxConnections;
        if (skip == ShadowSkip.None && !options.Mirror.TryEnter(maxInflight))
        {
            skip = ShadowSkip.Overloaded;
        }

        // Without a body the head is the whole request: the shadow need not wait for production's side to say so.
        ShadowExchange? shadow = skip == ShadowSkip.None
            ? Start(policy, backendHead, hasBody: request.Body != Http.BodyKind.None, request.IsHead, Http.KnownMethods.IsIdempotent(request.Method), firstByte, abort)
            : null;
        return (shadow, skip, policy);
    }

    /// <summary>Starts the shadow's copy and counts it in flight until it ends.</summary>
    private ShadowExchange Start(MirrorPolicy policy, ReadOnlySpan<byte> head, bool hasBody, bool isHeadRequest, bool idempotent, long firstByte, CancellationToken abort)
    {
        ShadowExchange shadow;
        if (policy.MarksShadowCopy)
        {
            byte[] marked = System.Buffers.ArrayPool<byte>.Shared.Rent(head.Length + policy.ShadowHeadGrowth);
            int length = policy.WriteShadowHead(head, marked);
            shadow = ShadowExchange.Start(marked.AsSpan(0, length), hasBody, isHeadRequest, idempotent, firstByte, pool, budget, options, time, abort, policy.MaxBody, _exit);
            System.Buffers.ArrayPool<byte>.Shared.Return(marked);   // Start copied the head into the shadow's queue
        }
        else
        {
            shadow = ShadowExchange.Start(head, hasBody, isHeadRequest, idempotent, firstByte, pool, budget, options, time, abort, policy.MaxBody, _exit);
        }

        return shadow;
    }
}
