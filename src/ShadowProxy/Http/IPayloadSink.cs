namespace ShadowProxy.Http;

/// <summary>Receives a message's payload as it goes by: the body without its transfer framing (chunk sizes, extensions, trailers).</summary>
internal interface IPayloadSink
{
    void Append(ReadOnlySpan<byte> payload);
}
