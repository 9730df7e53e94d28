using Serilog.Events;
using Serilog.Parsing;
using ShadowProxy.Hosting;

namespace ShadowProxy.Tests.Hosting;

public class JournalPriorityEnricherTests
{
    [Theory]
    [InlineData(LogEventLevel.Verbose, 7)]
    [InlineData(LogEventLevel.Debug, 7)]
    [InlineData(LogEventLevel.Information, 6)]
    [InlineData(LogEventLevel.Warning, 4)]
    [InlineData(LogEventLevel.Error, 3)]
    [InlineData(LogEventLevel.Fatal, 2)]
    public void Each_level_gets_the_syslog_priority_journald_reads_from_the_line_prefix(LogEventLevel level, int priority)
    {
        var logEvent = new LogEvent(DateTimeOffset.UnixEpoch, level, null, new MessageTemplateParser().Parse("x"), []);

        new JournalPriorityEnricher().Enrich(logEvent, null!);

        var value = Assert.IsType<ScalarValue>(logEvent.Properties[JournalPriorityEnricher.PropertyName]);
        Assert.Equal(priority, value.Value);
    }
}
