namespace ShadowProxy.Transport;

internal enum SocketDirection
{
    Receive,
    Send,
}
