using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Reporting;

/// <summary>The contract as a user sees it: the built program run as a process, its stdout, stderr and exit code.</summary>
public class ReportCliTests
{
    private const string Lines = """
        /products?id=7 0.012 0.015 0.003 200 500
        /products?id=8 0.010 0.011 0.001 200 200
        {"url":"/cart","production_status":200,"shadow_status":200,"production_time":0.020,"shadow_time":0.025,"delta":0.005,"diff":"body"}

        """;

    [Fact]
    public async Task Report_of_a_file_prints_the_summary_to_stdout_and_nothing_to_stderr()
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("shadow.log", Lines.TrimEnd().Split('\n'));

        (int exit, string stdout, string stderr) = await ProxyProcess.RunWithInputAsync(null, "report", log);

        Assert.Equal((0, ""), (exit, stderr));
        Assert.StartsWith($"ShadowProxy report: 3 requests (2 text lines, 1 json lines) from {log}", stdout);
        Assert.Contains("Production succeeded (2xx/3xx), shadow did not: 1 requests (33.3%)", stdout);
        Assert.Contains("Body mismatches: 1 of 1 compared (100.0%)", stdout);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    public async Task No_file_or_dash_reads_stdin(string file)
    {
        (int exit, string stdout, string stderr) = await ProxyProcess.RunWithInputAsync(Lines, ["report", .. file.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

        Assert.Equal((0, ""), (exit, stderr));
        Assert.StartsWith("ShadowProxy report: 3 requests (2 text lines, 1 json lines) from stdin", stdout);
    }

    [Fact]
    public async Task Html_option_writes_a_self_contained_page_with_three_charts()
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("shadow.log", Lines.TrimEnd().Split('\n'));
        string page = dir.File("report.html");

        (int exit, _, string stderr) = await ProxyProcess.RunWithInputAsync(null, "report", log, "--html", page);

        Assert.Equal((0, $"ShadowProxy: report: wrote {page}\n"), (exit, stderr));
        string html = await File.ReadAllTextAsync(page);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.All(["status-chart", "delta-chart", "path-chart"], chart => Assert.Contains($"<svg id=\"{chart}\"", html));
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("<link", html);
        Assert.Contains("default-src 'none'", html);
    }

    [Fact]
    public async Task Missing_file_is_one_line_on_stderr_and_exit_2()
    {
        using var dir = new TempDirectory();
        string missing = dir.File("nope.log");

        (int exit, string stdout, string stderr) = await ProxyProcess.RunWithInputAsync(null, "report", missing);

        Assert.Equal((2, "", $"ShadowProxy: report: no such file: '{missing}'\n"), (exit, stdout, stderr));
    }

    [Fact]
    public async Task Html_in_a_missing_directory_fails_before_reading()
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("shadow.log", "/a 0.010 0.010 0.000 200 200");

        (int exit, string stdout, string stderr) = await ProxyProcess.RunWithInputAsync(null, "report", log, "--html", dir.File("no/such/dir/r.html"));

        Assert.Equal((2, ""), (exit, stdout));
        Assert.StartsWith("ShadowProxy: report: cannot write --html ", stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }

    [Theory]
    [InlineData("--top", "1\n2", "ShadowProxy: report: --top: '1\\n2' is not a whole number from 1 to 1000")]
    [InlineData("--html", "no/such\ndir/r.html", "ShadowProxy: report: cannot write --html 'no/such\\ndir/r.html': ")]
    [InlineData("", "no\nsuch.log", "ShadowProxy: report: no such file: 'no\\nsuch.log'")]
    public async Task A_value_or_path_with_a_line_break_is_echoed_in_one_line(string option, string value, string start)
    {
        using var dir = new TempDirectory();
        string log = dir.WriteLines("shadow.log", "/a 0.010 0.010 0.000 200 200");
        string[] arguments = option == "" ? ["report", value] : ["report", log, option, value];

        (int exit, string stdout, string stderr) = await ProxyProcess.RunWithInputAsync(null, arguments);

        Assert.Equal((2, ""), (exit, stdout));
        Assert.StartsWith(start, Assert.Single(stderr.TrimEnd('\n').Split('\n')), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_option_is_one_line_and_exit_2()
    {
        (int exit, string stdout, string stderr) = await ProxyProcess.RunWithInputAsync(null, "report", "--bogus");

        // Named as an option, not as a file that is missing (the FILE argument takes any word).
        Assert.Equal((2, ""), (exit, stdout));
        Assert.StartsWith("ShadowProxy: report: unknown option '--bogus' (options: --html, --top, --min-requests;", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }
}
