using System.Text;

namespace ShadowProxy.Http;

/// <summary>Interned method names, so that parsing a common method allocates nothing.</summary>
internal static class KnownMethods
{
    public const string Get = "GET";
    public const string Head = "HEAD";
    public const string Post = "POST";
    public const string Put = "PUT";
    public const string Delete = "DELETE";
    public const string Options = "OPTIONS";
    public const string Patch = "PATCH";
    public const string Connect = "CONNECT";
    public const string Trace = "TRACE";

    /// <summary>
    /// GET, HEAD, OPTIONS, TRACE, PUT and DELETE (RFC 9110 §9.2.2): sending one twice has the effect of sending it
    /// once, so one lost on a connection that failed before its answer may be sent again. Never any other method.
    /// </summary>
    public static bool IsIdempotent(string method) =>
        ReferenceEquals(method, Get) || ReferenceEquals(method, Head) || ReferenceEquals(method, Options)
        || ReferenceEquals(method, Trace) || ReferenceEquals(method, Put) || ReferenceEquals(method, Delete);

    public static string Name(ReadOnlySpan<byte> method) => method.Length switch
    {
        3 when method.SequenceEqual("GET"u8) => Get,
        3 when method.SequenceEqual("PUT"u8) => Put,
        4 when method.SequenceEqual("POST"u8) => Post,
        4 when method.SequenceEqual("HEAD"u8) => Head,
        5 when method.SequenceEqual("PATCH"u8) => Patch,
        5 when method.SequenceEqual("TRACE"u8) => Trace,
        6 when method.SequenceEqual("DELETE"u8) => Delete,
        7 when method.SequenceEqual("OPTIONS"u8) => Options,
        7 when method.SequenceEqual("CONNECT"u8) => Connect,
        _ => Encoding.ASCII.GetString(method),
    };
}
