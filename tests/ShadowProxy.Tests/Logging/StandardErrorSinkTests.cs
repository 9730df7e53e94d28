using System.Text;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Parsing;
using ShadowProxy.Logging;

namespace ShadowProxy.Tests.Logging;

/// <summary>The writes StandardErrorSink makes: each one whole lines of at most PIPE_BUF bytes (see SharedPipeTests for why).</summary>
public sealed class StandardErrorSinkTests
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    [Fact]
    public void A_diagnostic_that_fits_in_PIPE_BUF_is_one_write()
    {
        List<byte[]> writes = Emit("first line\nsecond line\nthird line");

        Assert.Equal("first line\nsecond line\nthird line\n", StrictUtf8.GetString(Assert.Single(writes)));
    }

    [Fact]
    public void A_longer_diagnostic_goes_in_writes_of_whole_lines_and_a_line_longer_than_PIPE_BUF_is_wrapped_between_characters()
    {
        // 'é' is two bytes in UTF-8: a cut after 4,095 bytes of the line would split one.
        string longLine = new string('é', 5_000);
        string[] frames = [.. Enumerable.Range(0, 200).Select(i => $"   at Frame.Method{i}()")];
        string text = string.Join('\n', ["warning", longLine, .. frames]);

        List<byte[]> writes = Emit(text);

        Assert.All(writes, write => Assert.InRange(write.Length, 1, 4096));
        Assert.All(writes, write => Assert.Equal((byte)'\n', write[^1]));
        string[] written = [.. writes.Select(write => StrictUtf8.GetString(write))];   // no character cut in two
        string[] lines = [.. string.Concat(written).Split('\n', StringSplitOptions.RemoveEmptyEntries)];
        Assert.Equal(["warning", .. frames], lines.Where(line => !line.StartsWith('é')));
        Assert.Equal([2_047, 2_047, 906], lines.Where(line => line.StartsWith('é')).Select(line => line.Length));   // 4,094 bytes, not 4,095
    }

    private static List<byte[]> Emit(string message)
    {
        var stderr = new RecordingStream();
        using var sink = new StandardErrorSink(new MessageTemplateTextFormatter("{Message:l}{NewLine}"), stderr);
        sink.Emit(new LogEvent(DateTimeOffset.UnixEpoch, LogEventLevel.Warning, null, new MessageTemplate([new TextToken(message)]), []));
        return stderr.Writes;
    }

    /// <summary>Keeps each write apart, as each would be one write(2) on descriptor 2.</summary>
    private sealed class RecordingStream : Stream
    {
        public List<byte[]> Writes { get; } = [];

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Write(ReadOnlySpan<byte> buffer) => Writes.Add(buffer.ToArray());

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
