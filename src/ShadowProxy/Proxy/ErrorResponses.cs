using System.Text;

namespace ShadowProxy.Proxy;

/// <summary>
/// The answers the proxy itself gives, one per condition (Kestrel's RequestRejectionReason mapping). Each closes the
/// connection: after any of them the proxy cannot vouch for what the client sends next.
/// </summary>
internal static class ErrorResponses
{
    public static readonly ReadOnlyMemory<byte> BadRequest = Build(400, "Bad Request");
    public static readonly ReadOnlyMemory<byte> HeaderFieldsTooLarge = Build(431, "Request Header Fields Too Large");
    public static readonly ReadOnlyMemory<byte> BadGateway = Build(502, "Bad Gateway");
    public static readonly ReadOnlyMemory<byte> ServiceUnavailable = Build(503, "Service Unavailable");
    public static readonly ReadOnlyMemory<byte> GatewayTimeout = Build(504, "Gateway Timeout");

    /// <summary>What the client gets when production gave no usable response.</summary>
    public static ReadOnlyMemory<byte> ForProductionError(BackendError error) =>
        error == BackendError.Timeout ? GatewayTimeout : BadGateway;

    /// <summary>
    /// An answer as the request may have it: to a HEAD, the head alone (RFC 9110 §9.3.2: no content), its
    /// Content-Length still the one a GET would get; a client reading its connection on would take the body for the
    /// start of the next answer.
    /// </summary>
    public static ReadOnlyMemory<byte> For(ReadOnlyMemory<byte> answer, bool headRequest) =>
        headRequest ? answer[..(answer.Span.IndexOf("\r\n\r\n"u8) + 4)] : answer;

    private static byte[] Build(int status, string reason)
    {
        string body = $"{status} {reason}\n";
        return Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");
    }
}
