namespace ShadowProxy.Proxy;

/// <summary>Writing to the client failed: tells a client that went away apart from a failing backend.</summary>
internal sealed class ClientWriteException(Exception inner) : IOException(inner.Message, inner);
