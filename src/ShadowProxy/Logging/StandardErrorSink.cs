using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace ShadowProxy.Logging;

/// <summary>
/// Writes each diagnostic, formatted, to stderr (<see cref="StandardStreams.OpenError"/>) in writes of whole lines of
/// at most PIPE_BUF bytes, sharing no lock with the request lines on stdout. Runs behind Serilog's async wrapper, on
/// its one worker thread, so a stderr that blocks holds up that thread alone.
/// </summary>
internal sealed class StandardErrorSink(ITextFormatter formatter, Stream stderr) : ILogEventSink, IDisposable
{
    private const int AtomicWriteBytes = StandardStreams.AtomicWriteBytes;

    private readonly StringWriter _text = new(CultureInfo.InvariantCulture);

    /// <summary>A part of a line too long for one write, with the line end it is given.</summary>
    private readonly byte[] _wrapped = new byte[AtomicWriteBytes];

    public void Emit(LogEvent logEvent)
    {
        _text.GetStringBuilder().Clear();
        formatter.Format(logEvent, _text);
        try
        {
            WriteWholeLines(Encoding.UTF8.GetBytes(_text.ToString()));
        }
        catch (IOException)
        {
            // stderr is closed: a diagnostic has nowhere to go, and proxying goes on.
        }
    }

    public void Dispose()
    {
        _text.Dispose();
        stderr.Dispose();   // the descriptor stays open: DescriptorStream never closes it
    }

    private void WriteWholeLines(ReadOnlySpan<byte> rest)
    {
        while (!rest.IsEmpty)
        {
            int length = StandardStreams.WholeLinesPiece(rest);
            if (length > 0)
            {
                stderr.Write(rest[..length]);
                rest = rest[length..];
                continue;
            }

            // One line is longer than PIPE_BUF. Written as it is, in parts, it could have request lines land in its
            // middle; wrapped, each part a line of its own, a request line can only fall between two parts, and a
            // reader sees a long diagnostic line continued on the next. Cut where a UTF-8 character starts.
            int cut = AtomicWriteBytes - 1;
            while ((rest[cut] & 0b1100_0000) == 0b1000_0000)
            {
                cut--;
            }

            rest[..cut].CopyTo(_wrapped);
            _wrapped[cut] = (byte)'\n';
            stderr.Write(_wrapped.AsSpan(0, cut + 1));
            rest = rest[cut..];
        }
    }
}
