namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>One request of a case, the responses both backends give it, and how it is broken (if it is).</summary>
internal sealed record FuzzRequest(
    int Number,
    string Id,
    string Method,
    string Target,
    byte[] Leading,
    byte[] Head,
    byte[] Body,
    bool Http10,
    bool ClientWantsClose,
    Invalidity Invalid,
    string Shape,
    int RejectStatus,
    int ForwardableBodyBytes,
    IReadOnlyList<int> SizeLineOffsets,
    FuzzResponse Production,
    FuzzResponse Shadow)
{
    /// <summary>An Upgrade request: production alone gets it, with <c>Connection: Upgrade</c>, and the connection ends after it.</summary>
    public bool Tunnel { get; init; }

    public byte[] Wire => [.. Leading, .. Head, .. Body];
}
