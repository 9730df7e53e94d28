namespace ShadowProxy.Logging;

/// <summary>
/// How often an output's lasting failure is said on stderr: the first failure at once, then at most one report per
/// <see cref="Interval"/>, counting the failures in between, so that a lasting problem stays in view without a line
/// per request. Shared by --log-file's reporter and stdout's.
/// </summary>
internal sealed class FailureReportPace(TimeProvider time)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    private readonly Lock _gate = new();
    private long _lastReport;
    private bool _reported;
    private long _unreported;

    /// <summary>Counts a failure; true when it is to be said now.</summary>
    /// <param name="unreported">Failures counted without a report since the last one (0: say it as a first failure).</param>
    public bool TryReport(out long unreported)
    {
        lock (_gate)
        {
            long now = time.GetTimestamp();
            if (_reported && time.GetElapsedTime(_lastReport, now) < Interval)
            {
                _unreported++;
                unreported = 0;
                return false;
            }

            _reported = true;
            _lastReport = now;
            unreported = _unreported;
            _unreported = 0;
            return true;
        }
    }

    /// <summary>The output works again: the next failure is said at once. Returns the failures not yet reported.</summary>
    public long Reset()
    {
        lock (_gate)
        {
            long unreported = _unreported;
            (_reported, _unreported) = (false, 0);
            return unreported;
        }
    }
}
