using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace ShadowProxy.Logging;

/// <summary>
/// Writes each diagnostic, formatted, to stderr through <see cref="StandardStreams.OpenError"/> rather than
/// Console.Error: the writes then share no lock with the request lines on stdout. Runs behind Serilog's async
/// wrapper, on its worker thread, so a stderr that blocks holds up that thread alone.
/// </summary>
internal sealed class StandardErrorSink(ITextFormatter formatter) : ILogEventSink, IDisposable
{
    private readonly TextWriter _stderr = StandardStreams.OpenError();

    public void Emit(LogEvent logEvent)
    {
        try
        {
            formatter.Format(logEvent, _stderr);
        }
        catch (IOException)
        {
            // stderr is closed: a diagnostic has nowhere to go, and proxying goes on.
        }
    }

    public void Dispose() => _stderr.Dispose();
}
