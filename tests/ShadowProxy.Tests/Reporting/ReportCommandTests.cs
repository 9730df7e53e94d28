using ShadowProxy.Reporting;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reporting;

/// <summary>The command in process: what it prints for given files, and its progress lines.</summary>
public class ReportCommandTests
{
    [Fact]
    public void Mixed_text_and_json_files_give_one_report()
    {
        using var dir = new TempDirectory();
        string text = dir.WriteLines("a.log", "/a?x=1 0.010 0.020 0.010 200 200", "/b 0.010 - - 200 -", "not a request line");
        string json = dir.WriteLines("b.log", """{"url":"/a","production_status":200,"shadow_status":200,"production_time":0.010,"shadow_time":0.030,"delta":0.020,"body_match":false}""");
        var output = new StringWriter();
        var errors = new StringWriter();

        int exit = ReportCommand.Run([text, json], html: null, top: null, minRequests: "1", output, errors);

        string report = output.ToString();
        Assert.Equal(0, exit);
        Assert.Equal("", errors.ToString());
        Assert.Contains("3 requests (2 text lines, 1 json lines)", report);
        Assert.Contains($"Malformed lines: 1{Environment.NewLine}  {text}:3: not a request line", report);
        Assert.Matches(@"\n200\s+2\s+1\s+3\r?\n", report);   // row 200: shadow 200 ×2, '-' ×1, total 3
        Assert.Contains("Body mismatches: 1 of 1 compared", report);
        Assert.Matches(@"\n\s+2\s+\+0\.010\s+\+0\.020\s+0\.010\s+0\.020\s+/a\r?\n", report);   // nearest rank: median of 2 is the lower
    }

    [Fact]
    public void One_shadow_failure_in_thousands_is_not_rounded_to_none()
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("rare.log", [.. Enumerable.Repeat("/a 0.010 0.020 0.010 200 200", 2999), "/a 0.010 0.020 0.010 200 500"]);
        var output = new StringWriter();

        int exit = ReportCommand.Run([log], html: null, top: null, minRequests: null, output, TextWriter.Null);

        Assert.Equal(0, exit);
        Assert.Contains("Production succeeded (2xx/3xx), shadow did not: 1 requests (<0.1%)", output.ToString());
    }

    [Theory]
    [InlineData(0, 10, "0.0%")]
    [InlineData(1, 2000, "0.1%")]
    [InlineData(1, 2001, "<0.1%")]
    [InlineData(1999, 2000, ">99.9%")]
    [InlineData(1998, 2000, "99.9%")]
    [InlineData(2000, 2001, ">99.9%")]
    [InlineData(10, 10, "100.0%")]
    [InlineData(1, 3, "33.3%")]
    [InlineData(0, 0, "0%")]
    public void A_share_rounds_to_one_decimal_but_never_to_none_or_all_when_it_is_neither(long part, long whole, string expected) =>
        Assert.Equal(expected, ReportFormat.Percent(part, whole));

    [Fact]
    public void Progress_is_printed_each_interval_with_the_share_of_the_total()
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("big.log", Enumerable.Repeat("/a 0.010 0.020 0.010 200 200", 1000));   // 29,000 bytes
        var errors = new StringWriter();

        int exit = ReportCommand.Run([log], html: null, top: null, minRequests: null, TextWriter.Null, errors, progressInterval: 10_000);

        Assert.Equal(0, exit);
        string[] lines = errors.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["report: 9 KB of 28 KB (34.5%), 345 lines", "report: 19 KB of 28 KB (69.0%), 690 lines"], lines);
    }

    [Fact]
    public void Small_input_prints_no_progress()
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("small.log", "/a 0.010 0.020 0.010 200 200");
        var errors = new StringWriter();

        ReportCommand.Run([log], html: null, top: null, minRequests: null, TextWriter.Null, errors);

        Assert.Equal("", errors.ToString());
    }

    [Fact]
    public void More_distinct_paths_than_the_tables_hold_are_reported_with_a_note()
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("ids.log", [
            .. Enumerable.Range(0, 5000).Select(i => $"/users/{i} 0.010 0.020 0.010 200 200"),
            .. Enumerable.Repeat("/health 0.001 0.001 0.000 200 200", 50)]);
        var output = new StringWriter();

        ReportCommand.Run([log], html: null, top: "1", minRequests: null, output, TextWriter.Null);

        string report = output.ToString();
        Assert.Contains("5,050 requests", report);
        Assert.Matches(@"\n\s+50\s+0\.001\s+0\.001\s+0\.001\s+0\.001\s+0\.001\s+0\.001\s+/health\r?\n", report);
        Assert.Matches(@"Note: more than 2,000 distinct paths; the busiest 1,000 were kept, [\d,]+ requests of rarer paths", report);
    }

    [Fact]
    public void A_stdout_that_cannot_be_written_is_one_line_and_exit_1_and_the_html_page_is_still_written()
    {
        // With stdout closed (`report x.log >&-`) Console's stream throws UnauthorizedAccessException (EBADF): the
        // command ended in an unhandled exception and its stack trace.
        using var dir = new TempDirectory();
        string log = dir.WriteLines("a.log", "/a 0.010 0.020 0.010 200 200");
        string page = dir.File("report.html");
        var errors = new StringWriter();

        int exit = ReportCommand.Run([log], page, top: null, minRequests: null, new FailingWriter(), errors);

        Assert.Equal(1, exit);
        Assert.Equal(
            $"ShadowProxy: report: cannot write the report to stdout: Bad file descriptor{Environment.NewLine}ShadowProxy: report: wrote {page}{Environment.NewLine}",
            errors.ToString());
        Assert.Contains("</html>", File.ReadAllText(page), StringComparison.Ordinal);
    }

    [Fact]
    public void A_log_given_as_the_page_is_refused_and_left_as_it_was()
    {
        // Opening the page truncated it before anything was read: 'report x.log --html x.log' emptied the log.
        using var dir = new TempDirectory();
        string log = dir.WriteLines("a.log", "/a 0.010 0.020 0.010 200 200");
        var errors = new StringWriter();

        int exit = ReportCommand.Run([log], log, top: null, minRequests: null, TextWriter.Null, errors);

        Assert.Equal(2, exit);
        Assert.Equal($"ShadowProxy: report: --html '{log}' is also a log to read: give the page another name{Environment.NewLine}", errors.ToString());
        Assert.Equal("/a 0.010 0.020 0.010 200 200\n", File.ReadAllText(log));
    }

    [Fact]
    public void An_existing_file_that_is_not_an_html_page_is_not_overwritten()
    {
        // 'report --html requests.log' takes the log for the page's name (and reads stdin): the log was emptied.
        using var dir = new TempDirectory();
        string log = dir.WriteLines("requests.log", "/a 0.010 0.020 0.010 200 200");
        string other = dir.WriteLines("other.log", "/b 0.010 0.020 0.010 200 200");
        var errors = new StringWriter();

        int exit = ReportCommand.Run([other], log, top: null, minRequests: null, TextWriter.Null, errors);

        Assert.Equal(2, exit);
        Assert.Equal(
            $"ShadowProxy: report: --html '{log}' exists and is not an HTML page: not overwriting it (give the page a new name, or remove the file){Environment.NewLine}",
            errors.ToString());
        Assert.Equal("/a 0.010 0.020 0.010 200 200\n", File.ReadAllText(log));
    }

    [Theory]
    [InlineData("")]
    [InlineData("<!DOCTYPE html>\n<html lang=\"en\">old report</html>\n")]
    [InlineData("\uFEFF\n  <HTML><body>a page of another tool</body></HTML>")]
    public void An_empty_file_or_an_html_page_is_overwritten_with_the_new_page(string existing)
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("a.log", "/a 0.010 0.020 0.010 200 200");
        string page = dir.File("report.html");
        File.WriteAllText(page, existing);

        int exit = ReportCommand.Run([log], page, top: null, minRequests: null, TextWriter.Null, TextWriter.Null);

        Assert.Equal(0, exit);
        Assert.StartsWith("<!DOCTYPE html>", File.ReadAllText(page), StringComparison.Ordinal);
        Assert.Contains("1 requests", File.ReadAllText(page), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_fifo_as_the_page_is_written_to_without_a_look_inside_first(bool throughLink)
    {
        // The overwrite guard opened the page to read its first bytes: on a FIFO (or --html /dev/stdout into a pipe, a
        // link to one) that open or read waits for a writer, and the only writer would be this command: it hung for good.
        using var dir = new TempDirectory();
        string log = dir.WriteLines("a.log", "/a 0.010 0.020 0.010 200 200");
        string fifo = dir.File("fifo");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [fifo]))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        string page = fifo;
        if (throughLink)
        {
            page = dir.File("page.html");
            File.CreateSymbolicLink(page, fifo);
        }

        Task<string> reading = Task.Run(() => File.ReadAllText(fifo));
        Task<int> running = Task.Run(() => ReportCommand.Run([log], page, top: null, minRequests: null, TextWriter.Null, TextWriter.Null));

        // A hang leaves both threads blocked in open(2) (the test fails; the threads are background ones).
        Assert.Equal(0, await running.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("</html>", await reading.WaitAsync(TimeSpan.FromSeconds(20)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("x")]
    [InlineData("-3")]
    [InlineData("1001")]
    public void Bad_top_is_one_line_and_exit_2(string top)
    {
        var errors = new StringWriter();

        int exit = ReportCommand.Run([], html: null, top, minRequests: null, TextWriter.Null, errors);

        Assert.Equal(2, exit);
        // Worded as the proxy's own option errors ("--production-timeout: 'abc' is not ..."), under report's prefix.
        Assert.Equal($"ShadowProxy: report: --top: '{top}' is not a whole number from 1 to 1000{Environment.NewLine}", errors.ToString());
    }

    /// <summary>A stdout that fails every write, as a closed descriptor makes Console's stream fail.</summary>
    private sealed class FailingWriter : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value) => throw new UnauthorizedAccessException("Access to the path is denied.", new IOException("Bad file descriptor"));   // as Console's stream on EBADF
    }
}
