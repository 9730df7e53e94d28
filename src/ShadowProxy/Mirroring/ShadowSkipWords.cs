namespace ShadowProxy.Mirroring;

/// <summary>The json line's words for <see cref="ShadowSkip"/>.</summary>
internal static class ShadowSkipWords
{
    public static string? Word(ShadowSkip skip) => skip switch
    {
        ShadowSkip.None => null,
        ShadowSkip.SampledOut => "sampled_out",
        ShadowSkip.MethodFiltered => "method_filtered",
        ShadowSkip.Overloaded => "overloaded",
        ShadowSkip.BodyTooLarge => "body_too_large",
        ShadowSkip.Tunnel => "tunnel",
        _ => throw new ArgumentOutOfRangeException(nameof(skip), skip, null),
    };
}
