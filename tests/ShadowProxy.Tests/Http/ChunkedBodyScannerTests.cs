using System.Buffers;
using System.Text;
using ShadowProxy.Http;
using ShadowProxy.Tests.Reliability.Fuzz;

namespace ShadowProxy.Tests.Http;

public sealed class ChunkedBodyScannerTests
{
    private const string Body = "4\r\nWiki\r\n5;a=b;c=\"d\"\r\npedia\r\nE \r\n in\r\n\r\nchunks.\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";

    [Fact]
    public void Finds_the_end_of_a_body_and_not_a_byte_further()
    {
        var scanner = new ChunkedBodyScanner();
        byte[] input = Encoding.ASCII.GetBytes(Body + "GET /next HTTP/1.1\r\n");

        int consumed = scanner.Scan(input);

        Assert.True(scanner.IsComplete);
        Assert.Equal(Body.Length, consumed);
    }

    [Fact]
    public void Every_prefix_is_incomplete_and_every_split_scans_the_same()
    {
        byte[] input = Encoding.ASCII.GetBytes(Body);
        for (int split = 0; split <= input.Length; split++)
        {
            var scanner = new ChunkedBodyScanner();
            int first = scanner.Scan(input.AsSpan(0, split));
            Assert.Equal(split, first);
            Assert.False(scanner.IsInvalid);
            Assert.Equal(split == input.Length, scanner.IsComplete);
            int second = scanner.Scan(input.AsSpan(split));
            Assert.Equal(input.Length, first + second);
            Assert.True(scanner.IsComplete);
        }
    }

    [Fact]
    public void Scans_a_multi_segment_sequence()
    {
        byte[] input = Encoding.ASCII.GetBytes(Body);
        ReadOnlySequence<byte> sequence = Segments.Of(input, 1, 3, 7, 2);
        var scanner = new ChunkedBodyScanner();

        Assert.Equal(input.Length, scanner.Scan(sequence));
        Assert.True(scanner.IsComplete);
    }

    [Theory]
    [InlineData("00000000000000000005\r\nhello\r\n0\r\n\r\n")]    // 20 digits, the value 5
    [InlineData("0000000000000000000000\r\n\r\n")]                // a last chunk of 22 zeros
    [InlineData("0000000FFFFFFFFFFFFFFF\r\n")]                    // 15 significant digits after the zeros
    public void Leading_zeros_do_not_count_towards_the_size_limit(string body)
    {
        var scanner = new ChunkedBodyScanner();
        scanner.Scan(Encoding.ASCII.GetBytes(body));
        Assert.False(scanner.IsInvalid, body);
    }

    [Theory]
    [InlineData("x\r\n")]                       // not hex
    [InlineData("\r\n")]                        // no size
    [InlineData("4\nWiki\r\n0\r\n\r\n")]        // bare LF after size
    [InlineData("4\r\nWikiX\r\n")]              // data longer than its size
    [InlineData("4\r\nWiki\n0\r\n\r\n")]        // bare LF after data
    [InlineData("1000000000000000\r\n")]        // overflows
    [InlineData("0001000000000000000\r\n")]     // overflows after leading zeros
    [InlineData("0\r\n X: folded\r\n\r\n")]     // obs-fold in trailer
    [InlineData("0\r\nX: 1\n\r\n")]             // bare LF in trailer
    [InlineData("4;a=\u0001\r\n")]              // control in extension
    [InlineData("5 xyz\r\n")]                   // text after the size without a ';'
    [InlineData("5\txyz\r\n")]                  // the same after a tab
    [InlineData("5;\r\n")]                      // an extension without a name
    [InlineData("5; \r\n")]                     // the same, with BWS
    [InlineData("5;;a\r\n")]                    // an empty name between two ';'
    [InlineData("5;=b\r\n")]                    // a value without a name
    [InlineData("5;a b\r\n")]                   // two words as a name
    [InlineData("5;a=\r\n")]                    // '=' without a value
    [InlineData("5;a=b=c\r\n")]                 // a second '='
    [InlineData("5;a=b c\r\n")]                 // two words as a value
    [InlineData("5;a=(b)\r\n")]                 // a value neither token nor quoted-string
    [InlineData("5;a=\"b\r\n")]                 // a quoted-string that does not end
    [InlineData("5;a=\"b\"c\r\n")]              // text straight after a quoted-string
    [InlineData("5;a=\"b\\\u0001\"\r\n")]        // a quoted-pair of a control
    [InlineData("5;a\u00e9\r\n")]               // obs-text outside a quoted-string
    [InlineData("0\r\nX-No-Colon\r\n\r\n")]      // a trailer line without a colon
    [InlineData("0\r\nX : 1\r\n\r\n")]          // whitespace before a trailer's colon
    [InlineData("0\r\nX(y): 1\r\n\r\n")]        // a trailer name that is not a token
    [InlineData("0\r\nX: 1\r\nNo-Colon\r\n\r\n")] // a colon-less line after a good one
    public void Rejects_invalid_framing(string body)
    {
        var scanner = new ChunkedBodyScanner();
        scanner.Scan(Encoding.Latin1.GetBytes(body));
        Assert.True(scanner.IsInvalid, body);
    }

    [Theory]
    [InlineData("x\r\n", 0)]                         // the first byte breaks it
    [InlineData("4\r\nWiki\r\n1G\r\n", 10)]           // not hex after a valid digit
    [InlineData("4\r\nWikiX\r\n", 7)]                 // data longer than its size: the X
    [InlineData("4\r\nWiki\n0\r\n\r\n", 7)]           // bare LF after data
    [InlineData("4;a=\u0001\r\n", 4)]                // control in extension
    [InlineData("0\r\nX: 1\n\r\n", 7)]               // bare LF in trailer
    [InlineData("4\r\nWiki\r\n5 xyz\r\n", 11)]        // text after a size: the x
    [InlineData("5;\r\n", 2)]                       // an extension without a name: the CR
    [InlineData("0\r\nX-No-Colon\r\n\r\n", 13)]      // a trailer line without a colon: its CR
    public void Counts_the_bytes_before_the_one_that_breaks_the_framing_and_not_that_one(string body, int valid)
    {
        // A relay forwards what the scanner consumed: the breaking byte must not be among it, however the input is split.
        byte[] input = Encoding.Latin1.GetBytes(body + "more");
        var whole = new ChunkedBodyScanner();
        Assert.Equal(valid, whole.Scan(input));
        Assert.True(whole.IsInvalid, body);
        Assert.Equal(0, whole.Scan(input.AsSpan(valid)));   // an invalid body takes nothing more

        for (int split = 1; split < input.Length; split++)
        {
            var scanner = new ChunkedBodyScanner();
            long consumed = scanner.Scan(Segments.Of(input, split, input.Length - split));
            Assert.Equal(valid, consumed);
            var pieces = new ChunkedBodyScanner();
            int first = pieces.Scan(input.AsSpan(0, split));
            int second = pieces.IsInvalid ? 0 : pieces.Scan(input.AsSpan(split));
            Assert.Equal(valid, first + second);
        }
    }

    [Theory]
    [InlineData("5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("5 \r\nhello\r\n0\t\r\n\r\n")]                           // BWS before the CRLF, tolerated
    [InlineData("5;a\r\nhello\r\n0;b\r\n\r\n")]                         // a name alone
    [InlineData("5 ; a = b\r\nhello\r\n0\r\n\r\n")]                      // BWS around ';' and '='
    [InlineData("5\t;\ta\t=\tb\t\r\nhello\r\n0\r\n\r\n")]                 // the same with tabs, and before the CRLF
    [InlineData("5;a=\"q;\\\"x\"\r\nhello\r\n0\r\n\r\n")]                  // a quoted-string with ';' and a quoted-pair
    [InlineData("5;a=\"\";b;c=d ;e=\"\u00e9 \"\r\nhello\r\n0\r\n\r\n")]     // several; empty and obs-text quoted-strings
    [InlineData("5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n")] // every token character
    [InlineData("0\r\nX:\r\nY:  v w \r\nZ:\ta\u00e9:\r\n\r\n")]                // trailers: empty, OWS, obs-text and ':' in a value
    public void Accepts_the_extensions_and_trailers_the_grammar_allows(string body)
    {
        byte[] input = Encoding.Latin1.GetBytes(body);
        for (int split = 0; split <= input.Length; split++)
        {
            var scanner = new ChunkedBodyScanner();
            int consumed = scanner.Scan(input.AsSpan(0, split));
            consumed += scanner.Scan(input.AsSpan(split));
            Assert.True(scanner.IsComplete, $"{body} split at {split}");
            Assert.Equal(input.Length, consumed);
        }
    }

    [Fact]
    public void Bounds_the_size_line_and_the_trailers()
    {
        var longExtension = new ChunkedBodyScanner();
        longExtension.Scan(Encoding.ASCII.GetBytes("1;" + new string('e', ChunkedBodyScanner.MaxSizeLineBytes) + "\r\n"));
        var longZeros = new ChunkedBodyScanner();
        longZeros.Scan(Encoding.ASCII.GetBytes(new string('0', ChunkedBodyScanner.MaxSizeLineBytes + 1) + "1\r\n"));
        var longTrailer = new ChunkedBodyScanner();
        longTrailer.Scan(Encoding.ASCII.GetBytes("0\r\nX: " + new string('t', ChunkedBodyScanner.MaxTrailerBytes) + "\r\n\r\n"));

        Assert.True(longExtension.IsInvalid);
        Assert.True(longZeros.IsInvalid);
        Assert.True(longTrailer.IsInvalid);
    }

    [Theory]
    [InlineData(1)]        // one long field line
    [InlineData(8000)]     // many short ones, where the CRLFs are most of the section
    public void Bounds_every_byte_of_the_trailer_section_exactly(int fieldLines)
    {
        // MaxTrailerBytes bytes after the last chunk's size line, the CRLFs and the final empty line included, are
        // accepted; one more is refused at the byte past the bound.
        string atBound = TrailerSection(fieldLines, ChunkedBodyScanner.MaxTrailerBytes);
        string overBound = TrailerSection(fieldLines, ChunkedBodyScanner.MaxTrailerBytes + 1);

        var accepted = new ChunkedBodyScanner();
        byte[] acceptedBody = Encoding.ASCII.GetBytes("0\r\n" + atBound);
        int acceptedBytes = accepted.Scan(acceptedBody);
        var refused = new ChunkedBodyScanner();
        int refusedBytes = refused.Scan(Encoding.ASCII.GetBytes("0\r\n" + overBound));

        Assert.Equal(ChunkedBodyScanner.MaxTrailerBytes, atBound.Length);
        Assert.True(accepted.IsComplete, $"{fieldLines} lines: {ChunkedBodyScanner.MaxTrailerBytes} bytes should be accepted");
        Assert.Equal(acceptedBody.Length, acceptedBytes);
        Assert.True(refused.IsInvalid, $"{fieldLines} lines: {ChunkedBodyScanner.MaxTrailerBytes + 1} bytes should be refused");
        Assert.Equal(3 + ChunkedBodyScanner.MaxTrailerBytes, refusedBytes);
    }

    /// <summary>A trailer section of exactly <paramref name="bytes"/> bytes: short "a:" lines, the last one padded.</summary>
    private static string TrailerSection(int fieldLines, int bytes)
    {
        var section = new StringBuilder();
        for (int i = 0; i < fieldLines - 1; i++)
        {
            section.Append("a:\r\n");
        }

        int padding = bytes - section.Length - "a:\r\n\r\n".Length;
        section.Append("a:").Append('v', padding).Append("\r\n\r\n");
        return section.ToString();
    }

    /// <summary>Size lines of any length: what comes before the filler, the filler byte, what comes after it.</summary>
    public static TheoryData<string, char, string> SizeLineShapes => new()
    {
        { "1;", 'e', "" },              // a name after the ';'
        { "1 ;", 'e', "" },             // BWS before the ';'
        { "1\t;\t", 'e', "" },          // tabs around it
        { "1;a=", 'v', "" },            // a token value
        { "1;a=\"", 'q', "\"" },        // a quoted-string, its closing quote the last byte
        { "1", ' ', "" },               // BWS before the CR
        { "", '0', "1" },               // leading zeros: digits alone
    };

    [Theory]
    [MemberData(nameof(SizeLineShapes))]
    public void Bounds_every_byte_of_the_size_line_exactly(string before, char filler, string after)
    {
        // MaxSizeLineBytes bytes before the CRLF are accepted, one more is refused at the byte past the bound, whatever
        // the line is made of (the ';' or whitespace that ends the size is the line's too).
        string atBound = SizeLine(before, filler, after, ChunkedBodyScanner.MaxSizeLineBytes);
        string overBound = SizeLine(before, filler, after, ChunkedBodyScanner.MaxSizeLineBytes + 1);

        var accepted = new ChunkedBodyScanner();
        byte[] acceptedBody = Encoding.ASCII.GetBytes(atBound + "\r\nx\r\n0\r\n\r\n");
        int acceptedBytes = accepted.Scan(acceptedBody);
        var refused = new ChunkedBodyScanner();
        int refusedBytes = refused.Scan(Encoding.ASCII.GetBytes(overBound + "\r\nx\r\n0\r\n\r\n"));

        Assert.True(accepted.IsComplete, $"'{before}' + {filler}: {ChunkedBodyScanner.MaxSizeLineBytes} bytes should be accepted");
        Assert.Equal(acceptedBody.Length, acceptedBytes);
        Assert.True(refused.IsInvalid, $"'{before}' + {filler}: {ChunkedBodyScanner.MaxSizeLineBytes + 1} bytes should be refused");
        Assert.Equal(ChunkedBodyScanner.MaxSizeLineBytes, refusedBytes);
    }

    /// <summary>A chunk-size line of <paramref name="length"/> bytes before its CRLF.</summary>
    internal static string SizeLine(string before, char filler, string after, int length) =>
        before + new string(filler, length - before.Length - after.Length) + after;

    [Fact]
    public void Breaks_each_broken_body_of_the_framing_fuzz_at_the_byte_its_shape_names()
    {
        // The fuzz lets the proxy forward a broken body's bytes up to the offset its shape names, never the one there:
        // a named offset past the true break would let the breaking byte through unseen.
        foreach ((string shape, string tail, int breaks) in FuzzGenerator.InvalidBodies)
        {
            var scanner = new ChunkedBodyScanner();
            int consumed = scanner.Scan(Encoding.Latin1.GetBytes(tail));

            Assert.True(scanner.IsInvalid, shape);
            Assert.True(breaks == consumed, $"{shape}: breaks at {consumed}, named {breaks}");
        }
    }
}
