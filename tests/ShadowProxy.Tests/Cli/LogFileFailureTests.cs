using System.Globalization;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Cli;

/// <summary>
/// The built program when --log-file stops working after start-up, when its check of the file has passed. Serilog's
/// file sink tells a failure to nobody but its SelfLog: the proxy has to say it on stderr, once, not once per request.
/// The tests run as root, whom permissions do not stop; what fails for root too is a file where the log directory
/// was, and a device that is full.
/// </summary>
public sealed class LogFileFailureTests
{
    private const string Ok = FaultyBackends.ProductionOk;
    private const int Requests = 20;

    [Fact]
    public async Task A_log_directory_replaced_by_a_file_after_start_up_is_reported_once_on_stderr()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        using var directory = new TempDirectory();
        string logDirectory = directory.File("logs");
        string logFile = Path.Combine(logDirectory, "requests.log");
        await using ProxyProcess proxy = await ProxyProcess.StartAsync(production.EndPoint, shadow.EndPoint, "--log-file", logFile);

        // The sink opens its file at the first line, and again at each day's roll: this is what it then finds.
        Directory.Delete(logDirectory, recursive: true);
        await File.WriteAllTextAsync(logDirectory, "not a directory");
        await SendRequestsAsync(proxy);

        await AssertReportedOnceAsync(proxy, logFile);
        Assert.Contains($"'{logDirectory}' already exists", proxy.Stderr, StringComparison.Ordinal);   // why, not only that
    }

    [Fact]
    public async Task A_log_file_on_a_full_device_is_reported_once_on_stderr()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        using var directory = new TempDirectory();
        string logFile = directory.File("requests.log");
        // Today's file (and tomorrow's, should the test run over midnight) is /dev/full: it opens, as start-up checks,
        // and every write fails with ENOSPC.
        foreach (DateTime day in (DateTime[])[DateTime.Now, DateTime.Now.AddDays(1)])
        {
            File.CreateSymbolicLink(directory.File($"requests{day.ToString("yyyyMMdd", CultureInfo.InvariantCulture)}.log"), "/dev/full");
        }

        await using ProxyProcess proxy = await ProxyProcess.StartAsync(production.EndPoint, shadow.EndPoint, "--log-file", logFile);
        await SendRequestsAsync(proxy);

        await AssertReportedOnceAsync(proxy, logFile);
        Assert.Contains("No space left on device", proxy.Stderr, StringComparison.Ordinal);
    }

    private static async Task SendRequestsAsync(ProxyProcess proxy)
    {
        for (int i = 0; i < Requests; i++)
        {
            Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, $"GET /item?n={i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        }
    }

    private static async Task AssertReportedOnceAsync(ProxyProcess proxy, string logFile)
    {
        string report = $"Writing request lines to --log-file '{logFile}' failed: ";
        await proxy.WaitForStderrAsync(report, TimeSpan.FromSeconds(15));   // the sink flushes its buffer once a second
        proxy.Signal("TERM");
        int exitCode = await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, exitCode);
        Assert.Equal(Requests, proxy.StdoutLineCount);   // stdout still has every line
        string[] reports = [.. proxy.Stderr.Split('\n').Where(line => line.Contains("--log-file", StringComparison.Ordinal))];
        Assert.True(reports.Length == 1, "one report, not one per request line:\n" + proxy.Stderr);
        Assert.Contains(report, reports[0], StringComparison.Ordinal);
    }
}
