namespace ShadowProxy.Http;

/// <summary>How the end of a message body is found (RFC 9112 §6.3).</summary>
internal enum BodyKind : byte
{
    /// <summary>No body: no Content-Length and no Transfer-Encoding on a request; HEAD, 1xx, 204 and 304 responses.</summary>
    None,

    /// <summary>Exactly <c>Content-Length</c> bytes.</summary>
    ContentLength,

    /// <summary>Chunked transfer coding: the chunk sizes say where it ends.</summary>
    Chunked,

    /// <summary>A response that ends when the server closes the connection.</summary>
    CloseDelimited,
}
