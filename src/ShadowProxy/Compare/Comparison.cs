using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;

namespace ShadowProxy.Compare;

/// <summary>How one request's two answers compare: computed from the record when it is written, never stored.</summary>
/// <param name="StatusMatch">Both have a status and they are equal; null when either has none.</param>
/// <param name="BodyMatch">Both bodies were read whole and they are equal; null when either was not.</param>
internal readonly record struct Comparison(bool? StatusMatch, bool? BodyMatch, DiffKind Diff)
{
    public static Comparison Of(in BackendResult production, in BackendResult shadow, ShadowSkip skipped)
    {
        if (skipped != ShadowSkip.None)
        {
            return new Comparison(null, null, DiffKind.Skipped);
        }

        bool? statusMatch = production.StatusCode > 0 && shadow.StatusCode > 0 ? production.StatusCode == shadow.StatusCode : null;
        bool? bodyMatch = production.Facts.BodyComplete && shadow.Facts.BodyComplete ? BodiesMatch(production.Facts, shadow.Facts) : null;
        DiffKind diff = production.Error != BackendError.None ? DiffKind.ProductionError
            : shadow.Error != BackendError.None ? DiffKind.ShadowError
            : statusMatch == false ? DiffKind.Status
            : bodyMatch == false ? DiffKind.Body
            : DiffKind.Same;
        return new Comparison(statusMatch, bodyMatch, diff);
    }

    /// <summary>The contract's words for <see cref="DiffKind"/>.</summary>
    public static string Word(DiffKind diff) => diff switch
    {
        DiffKind.Same => "same",
        DiffKind.Status => "status",
        DiffKind.Body => "body",
        DiffKind.ShadowError => "shadow_error",
        DiffKind.ProductionError => "production_error",
        DiffKind.Skipped => "skipped",
        _ => throw new ArgumentOutOfRangeException(nameof(diff), diff, null),
    };

    /// <summary>JSON fingerprints when both bodies were compared as JSON; otherwise the payload hashes and sizes.</summary>
    private static bool BodiesMatch(in ResponseFacts production, in ResponseFacts shadow) =>
        production.JsonFingerprint is { } left && shadow.JsonFingerprint is { } right
            ? left == right
            : production.BodyHash == shadow.BodyHash && production.BodyBytes == shadow.BodyBytes;
}
