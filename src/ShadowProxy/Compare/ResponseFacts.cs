namespace ShadowProxy.Compare;

/// <summary>What the proxy learned about one backend's response while it streamed through.</summary>
/// <param name="FirstByte">From the request's first byte to the first byte of the backend's final response head; null if none came.</param>
/// <param name="BodyBytes">Payload bytes read: the body without chunked framing.</param>
/// <param name="BodyHash">XxHash3 of those payload bytes.</param>
/// <param name="JsonFingerprint">The body as JSON with the ignored fields left out (member order and whitespace do not count); null when not compared as JSON.</param>
/// <param name="BodyComplete">The whole body was read: the hash describes it.</param>
internal readonly record struct ResponseFacts(TimeSpan? FirstByte, long BodyBytes, ulong BodyHash, ulong? JsonFingerprint, bool BodyComplete);
