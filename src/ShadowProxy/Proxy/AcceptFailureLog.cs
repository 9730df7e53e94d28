using Microsoft.Extensions.Logging;

namespace ShadowProxy.Proxy;

/// <summary>
/// Says on stderr that accepting connections failed, and that it works again. Each event loop pauses and reports
/// on its own (SHADOWPROXY_IO_THREADS), so failures are logged at one rate for the whole listener: the first at
/// once, then at most one per <see cref="ReportInterval"/>. The line saying accepting works again comes only after a
/// run of failures (from one accept to the next) of which at least one was logged: no more of them than of failure
/// lines. It counts that run's failures, logged or not, and no others: a run none of whose failures was logged (it
/// came within the interval of the last failure line) is not said at all, rather than added to a later line that
/// could come hours after it.
/// </summary>
internal sealed class AcceptFailureLog(ILogger logger, TimeProvider time)
{
    /// <summary>A little under a loop's 100 ms pause after a failure: with one loop (the default) each failure is still logged, timer jitter or not.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(90);

    private readonly Lock _gate = new();
    private long? _lastFailureLine;
    private bool _failureLoggedInThisRun;

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
            _failureLoggedInThisRun = true;
            logger.AcceptFailed(error);
        }
    }

    /// <param name="failures">The run's, since the listener last accepted, counted by it (it reports only some of them).</param>
    public void AcceptingAgain(int failures)
    {
        lock (_gate)
        {
            if (!_failureLoggedInThisRun)
            {
                return;   // none of its failures was logged: neither is its end, and its count goes with it
            }

            logger.AcceptingAgain(failures);
            _failureLoggedInThisRun = false;
        }
    }
}
