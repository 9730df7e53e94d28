using System.Net.Sockets;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

/// <summary>
/// What stderr says of the listener's failures, whose reports come from every event loop (SHADOWPROXY_IO_THREADS):
/// one rate for the listener, and one line when it accepts again.
/// </summary>
public sealed class AcceptFailureLogTests
{
    private static readonly SocketException OutOfDescriptors = new((int)SocketError.TooManyOpenSockets);

    [Fact]
    public void Failures_reported_by_several_loops_at_once_are_one_line_the_first_at_once_then_one_per_interval()
    {
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var log = new AcceptFailureLog(diagnostics, time);

        // Four loops fail together (each would report every 100 ms on its own).
        for (int loop = 0; loop < 4; loop++)
        {
            log.Failed(OutOfDescriptors);
        }

        Assert.Equal(["Accepting connections failed"], diagnostics.Errors);

        time.Advance(AcceptFailureLog.ReportInterval / 2);
        log.Failed(OutOfDescriptors);
        Assert.Single(diagnostics.Errors);

        time.Advance(AcceptFailureLog.ReportInterval);
        for (int loop = 0; loop < 4; loop++)
        {
            log.Failed(OutOfDescriptors);
        }

        Assert.Equal(2, diagnostics.Errors.Count);
    }

    [Fact]
    public void Accepting_again_is_said_once_after_a_logged_failure_counting_the_failures_not_logged()
    {
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var log = new AcceptFailureLog(diagnostics, time);

        log.Failed(OutOfDescriptors);
        log.Failed(OutOfDescriptors);   // another loop's, not logged
        log.AcceptingAgain(3);          // the listener counted a third, a failed try it did not report
        Assert.Equal(["Accepting connections again after 3 failures"], diagnostics.Information);

        // A failure soon after the logged one is not logged, so neither is its end: no "again" without a "failed"
        // before it.
        time.Advance(AcceptFailureLog.ReportInterval / 2);
        log.Failed(OutOfDescriptors);
        log.AcceptingAgain(1);
        Assert.Single(diagnostics.Errors);
        Assert.Single(diagnostics.Information);
    }

    [Fact]
    public void Accepting_again_counts_the_failures_of_its_own_run_not_those_of_an_earlier_run_that_was_not_logged()
    {
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var log = new AcceptFailureLog(diagnostics, time);

        log.Failed(OutOfDescriptors);
        log.AcceptingAgain(1);

        // A short run right after the logged one: none of its five failures is logged, nor its end.
        time.Advance(AcceptFailureLog.ReportInterval / 2);
        log.Failed(OutOfDescriptors);
        log.AcceptingAgain(5);

        // Hours later, a run of two failures: its line says two, not seven (five of them from hours before).
        time.Advance(TimeSpan.FromHours(3));
        log.Failed(OutOfDescriptors);
        log.AcceptingAgain(2);
        Assert.Equal(2, diagnostics.Errors.Count);
        Assert.Equal(
            ["Accepting connections again after 1 failures", "Accepting connections again after 2 failures"],
            diagnostics.Information);
    }
}
