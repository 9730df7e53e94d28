using Microsoft.Extensions.Logging;

namespace ShadowProxy.Proxy;

/// <summary>
/// Says on stderr that accepting connections failed, and that it works again. Each event loop pauses and reports
/// on its own (SHADOWPROXY_IO_THREADS), so failures are logged at one rate for the whole listener: the first at
/// once, then at most one per <see cref="ReportInterval"/>. The line saying accepting works again counts every
/// failure since the previous such line, logged or not, and comes only after a logged failure: no more of them
/// than of failure lines.
/// </summary>
internal sealed class AcceptFailureLog(ILogger logger, TimeProvider time)
{
    /// <summary>A little under a loop's 100 ms pause after a failure: with one loop (the default) each failure is still logged, timer jitter or not.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(90);

    private readonly Lock _gate = new();
    private long? _lastFailureLine;
    private bool _failureLoggedSinceAgainLine;
    private long _failuresSinceAgainLine;

    public void Failed(Exception error)
    {
        // Logged under the gate, as the line below: a failure line never comes after the "again" line that follows it.
        lock (_gate)
        {
            long now = time.GetTimestamp();
            if (_lastFailureLine is long last && time.GetElapsedTime(last, now) < ReportInterval)
            {
                return;
            }

            _lastFailureLine = now;
            _failureLoggedSinceAgainLine = true;
            logger.AcceptFailed(error);
        }
    }

    /// <param name="failures">Since the listener last accepted, counted by it (it reports only some of them).</param>
    public void AcceptingAgain(int failures)
    {
        lock (_gate)
        {
            _failuresSinceAgainLine += failures;
            if (!_failureLoggedSinceAgainLine)
            {
                return;   // its failures were not logged either; the count carries over to the next line
            }

            logger.AcceptingAgain(_failuresSinceAgainLine);
            _failuresSinceAgainLine = 0;
            _failureLoggedSinceAgainLine = false;
        }
    }
}
