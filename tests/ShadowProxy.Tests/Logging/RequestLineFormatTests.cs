using System.Text.Json;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Tests.Logging;

public sealed class RequestLineFormatTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 26, 12, 30, 15, 123, TimeSpan.Zero);

    private static RequestRecord Record(BackendResult production, BackendResult shadow) =>
        new(At, "GET", "/products?id=7&q=a+b", production, shadow);

    [Fact]
    public void Text_line_has_the_six_em_proxy_fields()
    {
        var record = Record(
            new BackendResult(200, TimeSpan.FromMilliseconds(12.4), 120, BackendError.None),
            new BackendResult(500, TimeSpan.FromMilliseconds(15.6), 20, BackendError.None));

        Assert.Equal("/products?id=7&q=a+b 0.012 0.016 0.004 200 500", TextRequestLine.Format(record));
    }

    [Fact]
    public void Text_delta_is_shadow_minus_production_as_printed_and_may_be_negative()
    {
        var record = Record(
            new BackendResult(200, TimeSpan.FromSeconds(2.5), 1, BackendError.None),
            new BackendResult(200, TimeSpan.FromMilliseconds(999.5), 1, BackendError.None));

        Assert.Equal("/products?id=7&q=a+b 2.500 1.000 -1.500 200 200", TextRequestLine.Format(record));
    }

    [Fact]
    public void Text_missing_values_are_dashes()
    {
        var record = Record(new BackendResult(200, TimeSpan.FromMilliseconds(3), 5, BackendError.None), BackendResult.Failed(BackendError.Refused));

        Assert.Equal("/products?id=7&q=a+b 0.003 - - 200 -", TextRequestLine.Format(record));
    }

    [Fact]
    public void Json_line_has_every_contract_key_with_its_type()
    {
        using var json = new JsonRequestLine();
        var record = Record(
            new BackendResult(200, TimeSpan.FromMilliseconds(12), 120, BackendError.None),
            BackendResult.Failed(BackendError.Timeout, bytes: 7));

        using JsonDocument document = JsonDocument.Parse(json.Format(record));
        JsonElement root = document.RootElement;

        Assert.Equal("2026-11-26T12:30:15.123Z", root.GetProperty("@timestamp").GetString());
        Assert.Equal("GET", root.GetProperty("method").GetString());
        Assert.Equal("/products?id=7&q=a+b", root.GetProperty("url").GetString());
        Assert.Equal(200, root.GetProperty("production_status").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("shadow_status").ValueKind);
        Assert.Equal(0.012m, root.GetProperty("production_time").GetDecimal());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("shadow_time").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("delta").ValueKind);
        Assert.Equal(120, root.GetProperty("production_bytes").GetInt64());
        Assert.Equal(7, root.GetProperty("shadow_bytes").GetInt64());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("production_error").ValueKind);
        Assert.Equal("timeout", root.GetProperty("shadow_error").GetString());
        Assert.DoesNotContain('\n', json.Format(record));
    }

    [Fact]
    public void Json_seconds_have_three_decimals_as_in_the_text_line()
    {
        // "delta":0 or "production_time":1 would let Elasticsearch map the field as a whole number on an index's
        // first event, and every later fraction would be cut; the text line has always printed "0.000".
        using var json = new JsonRequestLine();
        var record = Record(
            new BackendResult(200, TimeSpan.FromSeconds(1), 1, BackendError.None) { Facts = new(TimeSpan.FromMilliseconds(10), 0, 0, null, false) },
            new BackendResult(200, TimeSpan.FromSeconds(1), 1, BackendError.None) { Facts = new(TimeSpan.FromMilliseconds(100), 0, 0, null, false) });

        string line = json.Format(record);

        Assert.Equal("/products?id=7&q=a+b 1.000 1.000 0.000 200 200", TextRequestLine.Format(record));
        Assert.Contains("\"production_time\":1.000,\"shadow_time\":1.000,\"delta\":0.000,", line, StringComparison.Ordinal);
        Assert.Contains("\"production_ttfb\":0.010,\"shadow_ttfb\":0.100,", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Refused", "refused")]
    [InlineData("Timeout", "timeout")]
    [InlineData("Reset", "reset")]
    [InlineData("InvalidResponse", "invalid_response")]
    [InlineData("Overflow", "overflow")]
    [InlineData("Aborted", "aborted")]
    public void Errors_are_one_word(string error, string word) => Assert.Equal(word, Enum.Parse<BackendError>(error).Word());

    [Fact]
    public void Json_escapes_what_json_must_escape()
    {
        using var json = new JsonRequestLine();
        var record = new RequestRecord(At, "GET", "/a\"b\\c", default, default);

        Assert.Equal("/a\"b\\c", JsonDocument.Parse(json.Format(record)).RootElement.GetProperty("url").GetString());
    }
}
