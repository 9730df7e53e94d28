using System.Text;
using ShadowProxy.Reporting;

namespace ShadowProxy.Tests.Reporting;

public class ReportLineParserTests
{
    [Fact]
    public void Text_line_gives_url_times_in_milliseconds_and_statuses()
    {
        Parsed entry = Parse("/products?id=7 0.012 0.015 0.003 200 500");

        Assert.Equal(new Parsed("/products?id=7", 200, 500, 12, 15, 3, null, false, false), entry);
    }

    [Fact]
    public void Text_line_with_dashes_has_no_shadow_values()
    {
        Parsed entry = Parse("/checkout 1.500 - - 200 -");

        Assert.Equal(new Parsed("/checkout", 200, 0, 1500, null, null, null, false, false), entry);
    }

    [Fact]
    public void Text_line_negative_delta_and_crlf_trimmed_by_caller_are_read()
    {
        Parsed entry = Parse("/a 0.100 0.040 -0.060 304 304");

        Assert.Equal(-60, entry.Delta);
    }

    [Fact]
    public void Json_line_of_the_contract_is_read()
    {
        Parsed entry = Parse("""{"@timestamp":"2026-11-26T10:00:00.000Z","method":"GET","url":"/search?q=a","production_status":200,"shadow_status":null,"production_time":0.012,"shadow_time":null,"delta":null,"production_bytes":10,"shadow_bytes":0,"production_error":null,"shadow_error":"timeout"}""");

        Assert.Equal(new Parsed("/search?q=a", 200, 0, 12, null, null, null, false, true), entry);
    }

    [Fact]
    public void Json_line_reads_later_keys_and_skips_unknown_nested_ones()
    {
        Parsed entry = Parse("""{"url":"/cart","extra":{"a":[1,{"b":2}]},"production_status":200,"shadow_status":200,"production_time":0.010,"shadow_time":0.030,"body_match":false,"diff":"body","status_match":true}""");

        Assert.Equal(new Parsed("/cart", 200, 200, 10, 30, 20, false, false, true), entry);
    }

    [Theory]
    [InlineData("""{"url":"/a","diff":"body"}""", false, false)]
    [InlineData("""{"url":"/a","diff":"same"}""", true, false)]
    [InlineData("""{"url":"/a","diff":"skipped"}""", null, true)]
    [InlineData("""{"url":"/a","shadow_skipped":"sampled_out","diff":"skipped"}""", null, true)]
    [InlineData("""{"url":"/a","shadow_skipped":null,"diff":"status"}""", null, false)]
    [InlineData("""{"url":"/a","body_match":true,"diff":"body"}""", true, false)]
    public void Json_diff_and_skip_words_are_understood(string line, bool? bodyMatch, bool skipped)
    {
        Parsed entry = Parse(line);

        Assert.Equal((bodyMatch, skipped), (entry.BodyMatch, entry.Skipped));
    }

    [Fact]
    public void Escaped_json_url_is_unescaped()
    {
        Parsed entry = Parse("""{"url":"\/a\u0026b?x=\"y\"","production_status":200}""");

        Assert.Equal("/a&b?x=\"y\"", entry.Url);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ShadowProxy: listening on 0.0.0.0:8001")]
    [InlineData("/a 0.012 0.015 0.003 200")]
    [InlineData("/a 0.012 0.015 0.003 200 500 extra")]
    [InlineData("/a  0.012 0.015 0.003 200 500")]
    [InlineData("/a 0.012 0.015 0.003 2000 500")]
    [InlineData("/a 0.012 0.015 0.003 abc 500")]
    [InlineData("/a 12ms 0.015 0.003 200 500")]
    [InlineData("/a NaN 0.015 0.003 200 500")]
    [InlineData("/a 1e300 0.015 0.003 200 500")]
    [InlineData("{\"url\":\"/a\"")]
    [InlineData("{\"url\":\"/a\"} trailing")]
    [InlineData("{\"url\":7}")]
    [InlineData("{\"production_status\":200}")]
    [InlineData("{\"url\":\"/a\",\"production_status\":\"200\"}")]
    [InlineData("{\"url\":\"/a\",\"production_time\":\"fast\"}")]
    [InlineData("{\"url\":\"/a\",\"body_match\":\"no\"}")]
    [InlineData("[1,2]")]
    [InlineData("{\"url\":\"/a\",}")]
    [InlineData("{\"url\":\"/\\ud800\",\"production_status\":200}")]
    [InlineData("{\"url\":\"/a\",\"production_time\":1e999}")]
    [InlineData("\u00ff\u00fe\u0000garbage\u0001")]
    public void Malformed_lines_are_rejected_without_throwing(string line)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line);

        Assert.False(ReportLineParser.TryParse(bytes, new byte[bytes.Length], out _));
    }

    [Fact]
    public void Mangled_lines_never_throw()
    {
        byte[][] seeds =
        [
            "/products?id=7 0.012 0.015 0.003 200 500"u8.ToArray(),
            """{"url":"/a\u0026b","production_status":200,"shadow_status":null,"production_time":0.012,"extra":{"x":[1,"\ud83d\ude00"]},"diff":"body"}"""u8.ToArray(),
        ];
        var random = new Random(5);
        int acceptedText = 0, acceptedJson = 0, rejected = 0;
        byte[] alphabet = "{}[]\":,.-0123456789eE \\u/d8nultrf"u8.ToArray();
        for (int i = 0; i < 20_000; i++)
        {
            byte[] line = (byte[])seeds[i % seeds.Length].Clone();
            for (int change = random.Next(1, 4); change > 0; change--)
            {
                int at = random.Next(line.Length);
                line[at] = random.Next(3) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
            }

            // Cut short only half the time: a cut line is almost always turned away at once, and its deeper paths
            // would go untried.
            int length = random.Next(2) == 0 ? line.Length : random.Next(line.Length + 1);
            if (!ReportLineParser.TryParse(line.AsSpan(0, length), new byte[length], out ReportEntry entry))
            {
                rejected++;
            }
            else if (entry.IsJson)
            {
                acceptedJson++;
            }
            else
            {
                acceptedText++;
            }
        }

        // Not throwing is the point, but only worth as much as the paths the mangled lines reach: a parser that turned
        // every line away at its first byte would pass too. Some of each kind still parse, and many are turned away.
        string counts = $"{acceptedText} text and {acceptedJson} json lines accepted, {rejected} rejected";
        Assert.True(acceptedText > 500 && acceptedJson > 500 && rejected > 10_000, counts);
    }

    private static Parsed Parse(string line)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line);
        Assert.True(ReportLineParser.TryParse(bytes, new byte[bytes.Length], out ReportEntry entry), line);
        return new Parsed(
            Encoding.UTF8.GetString(entry.Url),
            entry.ProductionStatus,
            entry.ShadowStatus,
            entry.ProductionMilliseconds,
            entry.ShadowMilliseconds,
            entry.DeltaMilliseconds,
            entry.BodyMatch,
            entry.ShadowSkipped,
            entry.IsJson);
    }

    private sealed record Parsed(string Url, int Production, int Shadow, long? ProductionMs, long? ShadowMs, long? Delta, bool? BodyMatch, bool Skipped, bool IsJson);
}
