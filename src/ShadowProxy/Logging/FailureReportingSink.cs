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
    private volatile bool _closing;

    public FailureReportingSink(ILogEventSink sink, ILoggingFailureListener listener)
    {
        (sink as ISetLoggingFailureListener)?.SetFailureListener(listener);
        _sink = sink;
        _listener = listener;
    }

    /// <summary>
    /// Writes the event; once closing has begun, writes nothing and reports nothing: a write that comes after the close,
    /// or fails because the close went under it (an exit that could not wait, <see cref="RequestLineWriter.Close"/>),
    /// says nothing about the disk.
    /// </summary>
    public void Emit(LogEvent logEvent)
    {
        if (_closing)
        {
            return;
        }

        try
        {
            _sink.Emit(logEvent);
        }
        catch (Exception ex)
        {
            if (!_closing)
            {
                _listener.OnLoggingFailed(this, LoggingFailureKind.Permanent, "writing failed", [logEvent], ex);
            }
        }
    }

    public void Dispose()
    {
        _closing = true;
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
