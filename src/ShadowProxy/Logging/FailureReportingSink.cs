using Serilog.Core;
using Serilog.Events;

namespace ShadowProxy.Logging;

/// <summary>
/// A sink whose every failure goes to <paramref name="listener"/>: those it reports itself (Serilog's failure listener,
/// which the file sink takes) and those it throws (a write that fails throws out of Emit, the last flush out of
/// Dispose), which Serilog would otherwise hand to its SelfLog, where nobody sees them.
/// </summary>
internal sealed class FailureReportingSink : ILogEventSink, IDisposable
{
    private readonly ILogEventSink _sink;
    private readonly ILoggingFailureListener _listener;

    public FailureReportingSink(ILogEventSink sink, ILoggingFailureListener listener)
    {
        (sink as ISetLoggingFailureListener)?.SetFailureListener(listener);
        _sink = sink;
        _listener = listener;
    }

    public void Emit(LogEvent logEvent)
    {
        try
        {
            _sink.Emit(logEvent);
        }
        catch (Exception ex)
        {
            _listener.OnLoggingFailed(this, LoggingFailureKind.Permanent, "writing failed", [logEvent], ex);
        }
    }

    public void Dispose()
    {
        try
        {
            (_sink as IDisposable)?.Dispose();
        }
        catch (Exception ex)
        {
            _listener.OnLoggingFailed(this, LoggingFailureKind.Final, "closing failed", events: null, ex);
        }
    }
}
