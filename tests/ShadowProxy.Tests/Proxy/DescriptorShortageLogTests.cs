using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Proxy;

/// <summary>What stderr says while sockets are given up to keep the last descriptors for the runtime: one line per interval, counting.</summary>
public sealed class DescriptorShortageLogTests
{
    [Fact]
    public void The_first_shortage_is_said_at_once_then_one_line_per_interval_counting_the_sockets_given_up_since_the_last()
    {
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var log = new DescriptorShortageLog(diagnostics, time);

        log.Short(descriptor: 140, limit: 172, headroom: 32);
        Assert.Equal(
            ["Open files near the limit: at least 141 of 172 descriptors in use; 1 new connections given up since the last such line (clients got 503, backend connections count as refused: 502), so that 32 stay free for the .NET runtime, which ends the process when it cannot start a thread. Raise the open-file limit (ulimit -n, LimitNOFILE)"],
            diagnostics.Warnings);

        // A flood within the interval: no more lines, but every socket counted for the next.
        for (int i = 0; i < 500; i++)
        {
            log.Short(descriptor: 141, limit: 172, headroom: 32);
        }

        Assert.Single(diagnostics.Warnings);

        time.Advance(DescriptorShortageLog.ReportInterval);
        log.Short(descriptor: 160, limit: 172, headroom: 16);
        Assert.Equal(2, diagnostics.Warnings.Count);
        Assert.StartsWith("Open files near the limit: at least 161 of 172 descriptors in use; 501 new connections given up", diagnostics.Warnings[1], StringComparison.Ordinal);
    }

    [Fact]
    public void The_end_of_a_shortage_is_said_once_with_the_sockets_given_up_after_the_last_line()
    {
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var log = new DescriptorShortageLog(diagnostics, time);
        log.Over();   // no shortage said: nothing to end
        Assert.Empty(diagnostics.Information);

        log.Short(descriptor: 140, limit: 172, headroom: 32);
        for (int i = 0; i < 300; i++)
        {
            log.Short(descriptor: 141, limit: 172, headroom: 32);
        }

        // The shortage ends within the interval: its 300 are said now, not by the next shortage, maybe hours later.
        Assert.True(log.ShortageSaid);
        log.Over();
        log.Over();
        Assert.Equal(
            ["Open files no longer near the limit: a client was taken with descriptors to spare; 300 new connections given up after the last such line"],
            diagnostics.Information);
        Assert.False(log.ShortageSaid);

        // A new shortage, however soon, is said at once and counts from there.
        log.Short(descriptor: 150, limit: 172, headroom: 32);
        Assert.Equal(2, diagnostics.Warnings.Count);
        Assert.Contains("; 1 new connections given up", diagnostics.Warnings[1], StringComparison.Ordinal);
    }
}
