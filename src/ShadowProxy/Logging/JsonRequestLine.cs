using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ShadowProxy.Compare;
using ShadowProxy.Mirroring;
using ShadowProxy.Proxy;

namespace ShadowProxy.Logging;

/// <summary>
/// One flat JSON object per line, for Logstash's json codec. Not thread-safe: one instance per writer, reused
/// line after line so that formatting allocates nothing.
/// </summary>
internal sealed class JsonRequestLine : IDisposable
{
    // The lines go to log files, never into HTML: the relaxed encoder keeps URLs readable ('+', '&' stay as they are).
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Utf8JsonWriter _writer = new(Stream.Null, Options);

    public void Write(in RequestRecord record, IBufferWriter<byte> output)
    {
        _writer.Reset(output);
        long? production = Milliseconds.Round(record.Production.Elapsed);
        long? shadow = Milliseconds.Round(record.Shadow.Elapsed);
        _writer.WriteStartObject();
        _writer.WriteString("@timestamp"u8, record.Timestamp.UtcDateTime);
        _writer.WriteString("method"u8, record.Method);
        _writer.WriteString("url"u8, record.Url);
        WriteStatus("production_status"u8, record.Production);
        WriteStatus("shadow_status"u8, record.Shadow);
        WriteSeconds("production_time"u8, production);
        WriteSeconds("shadow_time"u8, shadow);
        WriteSeconds("delta"u8, shadow - production);
        _writer.WriteNumber("production_bytes"u8, record.Production.Bytes);
        _writer.WriteNumber("shadow_bytes"u8, record.Shadow.Bytes);
        WriteError("production_error"u8, record.Production.Error);
        WriteError("shadow_error"u8, record.Shadow.Error);
        WriteComparison(record);
        _writer.WriteEndObject();
        _writer.Flush();
        output.Write("\n"u8);
    }

    public string Format(in RequestRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        Write(record, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan[..^1]);
    }

    public void Dispose() => _writer.Dispose();

    /// <summary>The comparison keys: times to first byte, payload sizes and hashes, the matches, the diff and the skip reason.</summary>
    private void WriteComparison(in RequestRecord record)
    {
        Comparison comparison = record.Comparison;
        WriteSeconds("production_ttfb"u8, Milliseconds.Round(record.Production.Facts.FirstByte));
        WriteSeconds("shadow_ttfb"u8, Milliseconds.Round(record.Shadow.Facts.FirstByte));
        WriteBodyBytes("production_body_bytes"u8, record.Production);
        WriteBodyBytes("shadow_body_bytes"u8, record.Shadow);
        WriteHash("production_body_hash"u8, record.Production.Facts);
        WriteHash("shadow_body_hash"u8, record.Shadow.Facts);
        WriteBoolean("status_match"u8, comparison.StatusMatch);
        WriteBoolean("body_match"u8, comparison.BodyMatch);
        _writer.WriteString("diff"u8, Comparison.Word(comparison.Diff));
        if (ShadowSkipWords.Word(record.ShadowSkipped) is { } skipped)
        {
            _writer.WriteString("shadow_skipped"u8, skipped);
        }
        else
        {
            _writer.WriteNull("shadow_skipped"u8);
        }
    }

    private void WriteBodyBytes(ReadOnlySpan<byte> name, in BackendResult result)
    {
        if (result.StatusCode > 0)
        {
            _writer.WriteNumber(name, result.Facts.BodyBytes);
        }
        else
        {
            _writer.WriteNull(name);
        }
    }

    private void WriteHash(ReadOnlySpan<byte> name, in ResponseFacts facts)
    {
        Span<char> hex = stackalloc char[16];
        if (facts.BodyComplete && facts.BodyHash.TryFormat(hex, out int written, "x16", CultureInfo.InvariantCulture))
        {
            _writer.WriteString(name, hex[..written]);
        }
        else
        {
            _writer.WriteNull(name);
        }
    }

    private void WriteBoolean(ReadOnlySpan<byte> name, bool? value)
    {
        if (value is { } known)
        {
            _writer.WriteBoolean(name, known);
        }
        else
        {
            _writer.WriteNull(name);
        }
    }

    private void WriteStatus(ReadOnlySpan<byte> name, in BackendResult result)
    {
        if (result.StatusCode > 0)
        {
            _writer.WriteNumber(name, result.StatusCode);
        }
        else
        {
            _writer.WriteNull(name);
        }
    }

    private void WriteSeconds(ReadOnlySpan<byte> name, long? milliseconds)
    {
        if (milliseconds is { } value)
        {
            // A product keeps the scales' sum, so 1000 ms is 1.000 and 0 is 0.000 (a quotient would be 1 and 0): the
            // text line's three decimals, and a number that a dynamic mapping never takes for a whole number.
            _writer.WriteNumber(name, value * 0.001m);
        }
        else
        {
            _writer.WriteNull(name);
        }
    }

    private void WriteError(ReadOnlySpan<byte> name, BackendError error)
    {
        if (error.Word() is { } word)
        {
            _writer.WriteString(name, word);
        }
        else
        {
            _writer.WriteNull(name);
        }
    }
}
