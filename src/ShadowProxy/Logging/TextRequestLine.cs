using System.Buffers;
using System.Buffers.Text;
using System.Text;
using ShadowProxy.Proxy;

namespace ShadowProxy.Logging;

/// <summary>
/// The em-proxy line: <c>URL PRODUCTION_SECONDS SHADOW_SECONDS DELTA_SECONDS PRODUCTION_STATUS SHADOW_STATUS</c>,
/// with <c>-</c> for a value that does not exist. Existing grok patterns depend on the order and the spacing.
/// </summary>
internal static class TextRequestLine
{
    public static void Write(in RequestRecord record, IBufferWriter<byte> output)
    {
        long? production = Milliseconds.Round(record.Production.Elapsed);
        long? shadow = Milliseconds.Round(record.Shadow.Elapsed);
        Encoding.ASCII.GetBytes(record.Url, output);
        WriteSeconds(production, output);
        WriteSeconds(shadow, output);
        WriteSeconds(shadow - production, output);
        WriteStatus(record.Production, output);
        WriteStatus(record.Shadow, output);
        output.Write("\n"u8);
    }

    public static string Format(in RequestRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Write(record, buffer);
        return Encoding.ASCII.GetString(buffer.WrittenSpan[..^1]);
    }

    private static void WriteSeconds(long? milliseconds, IBufferWriter<byte> output)
    {
        output.Write(" "u8);
        if (milliseconds is { } value)
        {
            Milliseconds.WriteSeconds(value, output);
        }
        else
        {
            output.Write("-"u8);
        }
    }

    private static void WriteStatus(in BackendResult result, IBufferWriter<byte> output)
    {
        output.Write(" "u8);
        if (result.StatusCode > 0)
        {
            Span<byte> span = output.GetSpan(3);
            Utf8Formatter.TryFormat(result.StatusCode, span, out int written);
            output.Advance(written);
        }
        else
        {
            output.Write("-"u8);
        }
    }
}
