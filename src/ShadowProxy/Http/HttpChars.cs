using System.Buffers;
using System.Text;

namespace ShadowProxy.Http;

/// <summary>Byte classes of RFC 9110 §5.6, as vectorised look-ups.</summary>
internal static class HttpChars
{
    /// <summary>tchar: the characters of a method or a header name.</summary>
    public static readonly SearchValues<byte> Token =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>
    /// Whether every character of <paramref name="text"/> (an option's value, not the hot path) is a tchar; an empty
    /// text passes, as the callers say what they want of its length.
    /// </summary>
    public static bool AllToken(string text) =>
        Ascii.IsValid(text) && !Encoding.ASCII.GetBytes(text).AsSpan().ContainsAnyExcept(Token);

    /// <summary>Visible ASCII (0x21-0x7E): what a request-target may hold.</summary>
    public static readonly SearchValues<byte> TargetChars = SearchValues.Create(VisibleAscii());

    /// <summary>
    /// What a reg-name or an IPv4 address may hold (RFC 3986 §3.2.2: unreserved, sub-delims and '%' of pct-encoded):
    /// the host of a CONNECT target.
    /// </summary>
    public static readonly SearchValues<byte> HostChars =
        SearchValues.Create("-._~!$&'()*+,;=%0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>What an IP-literal may hold between its brackets: an IPv6 address (and a zone, pct-encoded).</summary>
    public static readonly SearchValues<byte> IpLiteralChars = SearchValues.Create(":.%0123456789ABCDEFabcdef"u8);

    /// <summary>Controls other than horizontal tab: never allowed in a field value.</summary>
    public static readonly SearchValues<byte> InvalidInFieldValue = SearchValues.Create(ControlsExceptTab());

    public static ReadOnlySpan<byte> CrLf => "\r\n"u8;

    public static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    public static ReadOnlySpan<byte> OptionalWhitespace => " \t"u8;

    private static byte[] VisibleAscii()
    {
        var bytes = new byte[0x7E - 0x21 + 1];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(0x21 + i);
        }

        return bytes;
    }

    private static byte[] ControlsExceptTab()
    {
        var bytes = new List<byte>(33);
        for (int b = 0; b < 0x20; b++)
        {
            if (b != '\t')
            {
                bytes.Add((byte)b);
            }
        }

        bytes.Add(0x7F);
        return [.. bytes];
    }
}
