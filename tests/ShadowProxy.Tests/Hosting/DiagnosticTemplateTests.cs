using System.Globalization;
using System.Runtime.InteropServices;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Parsing;
using ShadowProxy.Hosting;

namespace ShadowProxy.Tests.Hosting;

/// <summary>
/// The stderr line's template: a value is written as it reads, not as JSON. With "{Message:lj}" a TimeSpan or an
/// enum came out quoted: 'waiting up to "00:00:30"', 'Second "SIGTERM"', 'Production failed ...: "Refused"'.
/// </summary>
public class DiagnosticTemplateTests
{
    public static TheoryData<string> Templates => [ProxyCommand.TerminalTemplate, ProxyCommand.JournalTemplate];

    [Theory]
    [MemberData(nameof(Templates))]
    public void A_time_span_an_enum_and_a_string_are_written_without_quotes(string template)
    {
        var logEvent = new LogEvent(
            DateTimeOffset.UnixEpoch,
            LogEventLevel.Information,
            null,
            new MessageTemplateParser().Parse("Stopping: waiting up to {DrainTimeout} for {Active}; second {Signal}; {Url}"),
            [
                new LogEventProperty("DrainTimeout", new ScalarValue(TimeSpan.FromSeconds(30))),
                new LogEventProperty("Active", new ScalarValue(1)),
                new LogEventProperty("Signal", new ScalarValue(PosixSignal.SIGTERM)),
                new LogEventProperty("Url", new ScalarValue("/a")),
                new LogEventProperty(JournalPriorityEnricher.PropertyName, new ScalarValue(6)),
            ]);
        var output = new StringWriter();

        new MessageTemplateTextFormatter(template, CultureInfo.InvariantCulture).Format(logEvent, output);

        Assert.Contains("Stopping: waiting up to 00:00:30 for 1; second SIGTERM; /a", output.ToString(), StringComparison.Ordinal);
    }
}
