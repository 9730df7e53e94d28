namespace ShadowProxy.Mirroring;

/// <summary>Why a request was not mirrored; the json line names each with one word (<c>shadow_skipped</c>).</summary>
internal enum ShadowSkip : byte
{
    /// <summary>Mirrored.</summary>
    None,

    /// <summary>Left out by --shadow-percent (at random, or by the sticky key's hash).</summary>
    SampledOut,

    /// <summary>The method is not in --shadow-methods.</summary>
    MethodFiltered,

    /// <summary>--shadow-max-inflight copies were already running.</summary>
    Overloaded,

    /// <summary>The request body is larger than --shadow-max-body.</summary>
    BodyTooLarge,

    /// <summary>Upgrade or CONNECT: tunnelled to production alone.</summary>
    Tunnel,
}
