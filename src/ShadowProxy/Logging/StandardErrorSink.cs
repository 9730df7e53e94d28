using System.Globalization;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace ShadowProxy.Logging;

/// <summary>
/// Writes each diagnostic, formatted, to stderr in one write (<see cref="StandardStreams.OpenError"/>), sharing no lock
/// with the request lines on stdout. Runs behind Serilog's async wrapper, on its one worker thread, so a stderr that
/// blocks holds up that thread alone.
/// </summary>
internal sealed class StandardErrorSink(ITextFormatter formatter) : ILogEventSink, IDisposable
{
    private readonly Stream _stderr = StandardStreams.OpenError();
    private readonly StringWriter _line = new(CultureInfo.InvariantCulture);

    public void Emit(LogEvent logEvent)
    {
        _line.GetStringBuilder().Clear();
        formatter.Format(logEvent, _line);
        try
        {
            _stderr.Write(Encoding.UTF8.GetBytes(_line.ToString()));
        }
        catch (IOException)
        {
            // stderr is closed: a diagnostic has nowhere to go, and proxying goes on.
        }
    }

    public void Dispose()
    {
        _line.Dispose();
        _stderr.Dispose();   // the descriptor stays open: DescriptorStream never closes it
    }
}
