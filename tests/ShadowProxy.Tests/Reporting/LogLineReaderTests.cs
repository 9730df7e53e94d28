using System.Text;
using ShadowProxy.Reporting;

namespace ShadowProxy.Tests.Reporting;

public class LogLineReaderTests
{
    [Fact]
    public void Lines_end_at_lf_or_crlf_and_the_last_needs_no_newline()
    {
        Assert.Equal(["a", "bb", "", "ccc"], ReadAll("a\nbb\r\n\nccc", bufferBytes: 64));
    }

    [Fact]
    public void Lines_that_straddle_buffer_refills_come_out_whole()
    {
        string[] lines = [.. Enumerable.Range(0, 200).Select(i => new string((char)('a' + (i % 26)), i % 13))];

        Assert.Equal(lines, ReadAll(string.Join("\n", lines) + "\n", bufferBytes: 16));
    }

    [Fact]
    public void A_line_longer_than_the_buffer_is_skipped_and_reported_once()
    {
        var reader = new LogLineReader(new MemoryStream(Encoding.ASCII.GetBytes($"ok\n{new string('x', 100)}\nafter\n{new string('y', 50)}")), bufferBytes: 16);
        var seen = new List<string>();
        while (reader.Read(out ReadOnlySpan<byte> line) is var status && status != LineReadStatus.End)
        {
            seen.Add(status == LineReadStatus.TooLong ? $"too long at {reader.LineNumber}" : Encoding.ASCII.GetString(line));
        }

        Assert.Equal(["ok", "too long at 2", "after", "too long at 4"], seen);
        Assert.Equal(3 + 101 + 6 + 50, reader.BytesRead);
    }

    private static List<string> ReadAll(string text, int bufferBytes)
    {
        var reader = new LogLineReader(new MemoryStream(Encoding.ASCII.GetBytes(text)), bufferBytes);
        var lines = new List<string>();
        while (reader.Read(out ReadOnlySpan<byte> line) == LineReadStatus.Line)
        {
            lines.Add(Encoding.ASCII.GetString(line));
        }

        return lines;
    }
}
