namespace ShadowProxy.Tests.Reliability.Fuzz;

/// <summary>How a request is broken, if it is.</summary>
internal enum Invalidity
{
    None,

    /// <summary>The head is rejected (400, or 431 when too large) before anything is forwarded.</summary>
    Head,

    /// <summary>The head is valid and forwarded; the chunked body breaks part-way: 400, and only its valid part may be forwarded.</summary>
    Body,
}
