using System.Buffers.Text;
using System.Text;

namespace ShadowProxy.Http;

/// <summary>The field values both message heads read the same way, requests and responses alike.</summary>
internal static class FieldValues
{
    /// <summary>
    /// A Content-Length value: one or more digits and nothing else (no sign, no inner whitespace: RFC 9110 §8.6),
    /// within a long. A looser reading than the next hop's could frame the body another way.
    /// </summary>
    public static bool TryParseContentLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        return !value.IsEmpty && !value.ContainsAnyExceptInRange((byte)'0', (byte)'9')
            && Utf8Parser.TryParse(value, out length, out int used) && used == value.Length;
    }

    /// <summary>The options of one Connection field, a comma-separated list.</summary>
    public static ConnectionOptions ParseConnectionOptions(ReadOnlySpan<byte> value)
    {
        ConnectionOptions options = ConnectionOptions.None;
        foreach (Range range in value.Split((byte)','))
        {
            ReadOnlySpan<byte> option = value[range].Trim(HttpChars.OptionalWhitespace);
            options |= Ascii.EqualsIgnoreCase(option, "close"u8) ? ConnectionOptions.Close
                : Ascii.EqualsIgnoreCase(option, "keep-alive"u8) ? ConnectionOptions.KeepAlive
                : Ascii.EqualsIgnoreCase(option, "upgrade"u8) ? ConnectionOptions.Upgrade
                : ConnectionOptions.None;
        }

        return options;
    }
}
