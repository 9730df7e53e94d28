using System.Buffers;
using System.Buffers.Text;

namespace ShadowProxy.Logging;

/// <summary>
/// Times as whole milliseconds, written as seconds with exactly three decimals. Rounding each time once, and taking
/// the delta of the rounded values, keeps a line self-consistent: DELTA is always SHADOW minus PRODUCTION as printed.
/// </summary>
internal static class Milliseconds
{
    public static long? Round(TimeSpan? elapsed) =>
        elapsed is { } value ? (long)Math.Round(value.TotalMilliseconds, MidpointRounding.AwayFromZero) : null;

    /// <summary>Writes e.g. 12 as "0.012" and -1500 as "-1.500".</summary>
    public static void WriteSeconds(long milliseconds, IBufferWriter<byte> output)
    {
        Span<byte> span = output.GetSpan(24);
        int length = 0;
        if (milliseconds < 0)
        {
            span[length++] = (byte)'-';
            milliseconds = -milliseconds;
        }

        Utf8Formatter.TryFormat(milliseconds / 1000, span[length..], out int written);
        length += written;
        span[length++] = (byte)'.';
        Utf8Formatter.TryFormat(milliseconds % 1000, span[length..], out written, new StandardFormat('D', 3));
        output.Advance(length + written);
    }
}
