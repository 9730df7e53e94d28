namespace ShadowProxy.Compare;

/// <summary>The one word a request line gives for how the shadow's answer differed from production's; the first that applies.</summary>
internal enum DiffKind : byte
{
    /// <summary>Same status, same body (or no body to compare).</summary>
    Same,

    /// <summary>The status codes differ.</summary>
    Status,

    /// <summary>Same status, different body.</summary>
    Body,

    /// <summary>The shadow gave no complete answer (refused, timed out, reset, invalid, abandoned).</summary>
    ShadowError,

    /// <summary>Production gave no complete answer: there is nothing to compare the shadow with.</summary>
    ProductionError,

    /// <summary>The request was not mirrored (see the skip reason).</summary>
    Skipped,
}
