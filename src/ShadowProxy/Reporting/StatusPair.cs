namespace ShadowProxy.Reporting;

/// <summary>
/// One cell of the production × shadow matrix. Besides real statuses a side can be <see cref="NoStatus"/> (no
/// response: an error or a timeout, printed '-'), and the shadow can be <see cref="Skipped"/> (no copy was sent on
/// purpose), which is not a failure.
/// </summary>
internal sealed record StatusPair(int Production, int Shadow, long Count)
{
    public const int NoStatus = 0;

    public const int Skipped = -1;

    public StatusPairKind Kind => KindOf(Production, Shadow);

    public static StatusPairKind KindOf(int production, int shadow) =>
        shadow == Skipped ? StatusPairKind.ShadowSkipped
        : production == shadow ? StatusPairKind.Same
        : IsSuccess(production) && !IsSuccess(shadow) ? StatusPairKind.ShadowFailed
        : StatusPairKind.Differs;

    private static bool IsSuccess(int status) => status is >= 200 and < 400;
}
