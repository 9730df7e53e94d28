using System.Net;
using Microsoft.Extensions.Logging;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;
using ShadowProxy.Tests.Infrastructure;
using ShadowProxy.Transport;

namespace ShadowProxy.Tests.Proxy;

/// <summary>
/// <see cref="DescriptorHeadroom.Short"/> is static, set by the proxy server that was constructed last. A server that
/// has been disposed must let go of it: its logger (and the host's logger factory behind it) would otherwise be kept
/// for the process's life, and shortages of sockets it no longer has anything to do with would go to its stderr.
/// </summary>
[Collection(ProcessWideReports.Collection)]
public sealed class DescriptorHeadroomReportTests
{
    /// <summary>A descriptor number past any soft limit a test host has: short by any count.</summary>
    private const int PastTheLimit = int.MaxValue - 1;

    [Fact]
    public void A_disposed_server_no_longer_hears_of_descriptor_shortages()
    {
        var time = new ManualTimeProvider();
        var diagnostics = new RecordingLogger();
        var server = new ProxyServer(
            new ProxyOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                Production = new IPEndPoint(IPAddress.Loopback, 9),
                Shadow = new IPEndPoint(IPAddress.Loopback, 9),
            },
            new DiscardingSink(),
            new Typed(diagnostics),
            time);

        Assert.True(DescriptorHeadroom.IsShortForClient(PastTheLimit), "the test host's open-file limit is unlimited: nothing can be short");
        Assert.Single(diagnostics.Warnings);   // the live server says it

        server.Dispose();
        time.Advance(DescriptorShortageLog.ReportInterval);   // its shortage log would say the next one
        DescriptorHeadroom.IsShortForClient(PastTheLimit);

        Assert.Single(diagnostics.Warnings);
    }

    private sealed class DiscardingSink : IRequestLineSink
    {
        public void Write(in RequestRecord record)
        {
        }
    }

    private sealed class Typed(ILogger inner) : ILogger<ProxyServer>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
