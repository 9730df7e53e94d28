using System.Buffers.Text;
using System.Text.Json;

namespace ShadowProxy.Reporting;

/// <summary>
/// Reads one request line of either format, deciding per line: a line that starts with '{' is json, anything else
/// is the six-field text line. Nothing is allocated: numbers are parsed from the bytes, the URL stays a span.
/// </summary>
internal static class ReportLineParser
{
    private const int TextFields = 6;

    /// <param name="scratch">At least as long as <paramref name="line"/>: where an escaped json URL is unescaped to.</param>
    public static bool TryParse(ReadOnlySpan<byte> line, Span<byte> scratch, out ReportEntry entry)
    {
        line = line.Trim((byte)' ');
        return !line.IsEmpty && line[0] == (byte)'{'
            ? TryParseJson(line, scratch, out entry)
            : TryParseText(line, out entry);
    }

    /// <summary><c>URL PRODUCTION_SECONDS SHADOW_SECONDS DELTA_SECONDS PRODUCTION_STATUS SHADOW_STATUS</c>, '-' for none.</summary>
    public static bool TryParseText(ReadOnlySpan<byte> line, out ReportEntry entry)
    {
        entry = default;
        Span<Range> fields = stackalloc Range[TextFields];
        int count = 0;
        int start = 0;
        while (true)
        {
            int space = line[start..].IndexOf((byte)' ');
            int end = space < 0 ? line.Length : start + space;
            if (end == start || count == TextFields)
            {
                return false;   // an empty field (two spaces) or a seventh field
            }

            fields[count++] = start..end;
            if (space < 0)
            {
                break;
            }

            start = end + 1;
        }

        if (count != TextFields)
        {
            return false;
        }

        entry.Url = line[fields[0]];
        if (!TryParseSeconds(line[fields[1]], out entry.ProductionMilliseconds)
            || !TryParseSeconds(line[fields[2]], out entry.ShadowMilliseconds)
            || !TryParseSeconds(line[fields[3]], out entry.DeltaMilliseconds)
            || !TryParseStatus(line[fields[4]], out entry.ProductionStatus)
            || !TryParseStatus(line[fields[5]], out entry.ShadowStatus))
        {
            return false;
        }

        entry.DeltaMilliseconds ??= entry.ShadowMilliseconds - entry.ProductionMilliseconds;
        return true;
    }

    /// <summary>One flat object; keys this version does not know are skipped, so later additions do not break it.</summary>
    public static bool TryParseJson(ReadOnlySpan<byte> line, Span<byte> scratch, out ReportEntry entry)
    {
        entry = default;
        entry.IsJson = true;
        bool hasUrl = false;
        bool bodyMatchGiven = false;   // body_match, when the line has it, says more than the diff word (null: not compared)
        bool? bodyMatchOfDiff = null;
        var reader = new Utf8JsonReader(line);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool valid = true;
                if (reader.ValueTextEquals("url"u8))
                {
                    reader.Read();
                    hasUrl = reader.TokenType == JsonTokenType.String;
                    valid = hasUrl;
                    if (hasUrl)
                    {
                        entry.Url = reader.ValueIsEscaped ? scratch[..reader.CopyString(scratch)] : reader.ValueSpan;
                    }
                }
                else if (reader.ValueTextEquals("production_status"u8))
                {
                    valid = TryReadStatus(ref reader, out entry.ProductionStatus);
                }
                else if (reader.ValueTextEquals("shadow_status"u8))
                {
                    valid = TryReadStatus(ref reader, out entry.ShadowStatus);
                }
                else if (reader.ValueTextEquals("production_time"u8))
                {
                    valid = TryReadSeconds(ref reader, out entry.ProductionMilliseconds);
                }
                else if (reader.ValueTextEquals("shadow_time"u8))
                {
                    valid = TryReadSeconds(ref reader, out entry.ShadowMilliseconds);
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    valid = TryReadSeconds(ref reader, out entry.DeltaMilliseconds);
                }
                else if (reader.ValueTextEquals("body_match"u8))
                {
                    reader.Read();
                    valid = reader.TokenType is JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null;
                    bodyMatchGiven = true;
                    entry.BodyMatch = reader.TokenType == JsonTokenType.Null ? null : reader.TokenType == JsonTokenType.True;
                }
                else if (reader.ValueTextEquals("diff"u8))
                {
                    reader.Read();
                    valid = reader.TokenType is JsonTokenType.String or JsonTokenType.Null;
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        ReadDiff(ref reader, ref bodyMatchOfDiff, ref entry.SideFailed, ref entry.ShadowSkipped);
                    }
                }
                else if (reader.ValueTextEquals("shadow_skipped"u8))
                {
                    reader.Read();
                    valid = reader.TokenType is JsonTokenType.String or JsonTokenType.Null;
                    entry.ShadowSkipped |= reader.TokenType == JsonTokenType.String;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }

                if (!valid)
                {
                    return false;
                }
            }

            // The object must be closed, and be the only thing on the line.
            if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0 || reader.Read())
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string the reader cannot unescape, such as a lone "\ud800".
            return false;
        }

        if (!bodyMatchGiven)
        {
            entry.BodyMatch = bodyMatchOfDiff;
        }

        entry.DeltaMilliseconds ??= entry.ShadowMilliseconds - entry.ProductionMilliseconds;
        return hasUrl;
    }

    /// <summary>The diff words that say something about bodies, failures or skips; "status" says none of these.</summary>
    private static void ReadDiff(ref Utf8JsonReader reader, ref bool? bodyMatch, ref bool sideFailed, ref bool shadowSkipped)
    {
        if (reader.ValueTextEquals("body"u8))
        {
            bodyMatch = false;
        }
        else if (reader.ValueTextEquals("same"u8))
        {
            bodyMatch = true;
        }
        else if (reader.ValueTextEquals("shadow_error"u8) || reader.ValueTextEquals("production_error"u8))
        {
            sideFailed = true;
        }
        else if (reader.ValueTextEquals("skipped"u8))
        {
            shadowSkipped = true;
        }
    }

    private static bool TryReadStatus(ref Utf8JsonReader reader, out int status)
    {
        status = 0;
        reader.Read();
        return reader.TokenType == JsonTokenType.Null
            || reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out status) && IsStatus(status);
    }

    private static bool TryReadSeconds(ref Utf8JsonReader reader, out long? milliseconds)
    {
        milliseconds = null;
        reader.Read();
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out double seconds) || !IsPlausibleSeconds(seconds))
        {
            return false;
        }

        milliseconds = ToMilliseconds(seconds);
        return true;
    }

    private static bool TryParseSeconds(ReadOnlySpan<byte> field, out long? milliseconds)
    {
        milliseconds = null;
        if (field.SequenceEqual("-"u8))
        {
            return true;
        }

        if (!Utf8Parser.TryParse(field, out double seconds, out int consumed) || consumed != field.Length || !IsPlausibleSeconds(seconds))
        {
            return false;
        }

        milliseconds = ToMilliseconds(seconds);
        return true;
    }

    private static bool TryParseStatus(ReadOnlySpan<byte> field, out int status)
    {
        status = 0;
        return field.SequenceEqual("-"u8)
            || field.Length == 3 && Utf8Parser.TryParse(field, out status, out int consumed) && consumed == 3 && IsStatus(status);
    }

    private static bool IsStatus(int status) => status is >= 100 and <= 999;

    /// <summary>A year either way: anything beyond is not a time this proxy wrote (and would not fit the histograms).</summary>
    private static bool IsPlausibleSeconds(double seconds) => Math.Abs(seconds) <= 366 * 24 * 3600;

    private static long ToMilliseconds(double seconds) => (long)Math.Round(seconds * 1000, MidpointRounding.AwayFromZero);
}
