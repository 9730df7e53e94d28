namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>One response a backend sends: interim heads, the final head, its body as sent and its payload.</summary>
internal sealed record FuzzResponse(
    int Status,
    IReadOnlyList<byte[]> Interims,
    byte[] Head,
    byte[] Body,
    byte[] Payload,
    bool CloseDelimited,
    bool BackendCloses,
    bool LengthOverridden,
    IReadOnlyList<Cut> Cuts)
{
    /// <summary>How the response is broken: a head the proxy must not relay (502), or a chunked body that breaks at <see cref="BreakAt"/>.</summary>
    public Invalidity Invalid { get; init; }

    public string Shape { get; init; } = "valid";

    /// <summary>The body is chunked: an HTTP/1.0 client cannot frame it, so its connection ends after it.</summary>
    public bool Chunked { get; init; }

    /// <summary>The offset in <see cref="Body"/> of the byte that breaks a broken body.</summary>
    public int BreakAt { get; init; }

    public byte[] Wire => [.. Interims.SelectMany(interim => interim), .. Head, .. Body];
}
