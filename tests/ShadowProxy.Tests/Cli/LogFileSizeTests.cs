using System.Globalization;
using System.Text;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Cli;

/// <summary>
/// The day's --log-file has no size at which lines stop going into it: it is rolled daily, and nothing else. Serilog's
/// file sink stops writing a file at 1 GB unless told otherwise, silently (150-byte lines at 2,000 requests a second
/// reach that in an hour).
/// </summary>
public sealed class LogFileSizeTests
{
    private const string Ok = FaultyBackends.ProductionOk;
    private const long OneGibibyte = 1L << 30;

    [Fact]
    public async Task A_days_log_file_past_one_gibibyte_still_gets_every_line()
    {
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        using var directory = new TempDirectory();
        string logFile = directory.File("requests.log");
        // Today's file (and tomorrow's, should the test run over midnight) already holds 1 GiB, as a busy day's does by
        // the afternoon; sparse, so that it takes no disk.
        string[] days = [.. ((DateTime[])[DateTime.Now, DateTime.Now.AddDays(1)]).Select(day => directory.File($"requests{day.ToString("yyyyMMdd", CultureInfo.InvariantCulture)}.log"))];
        foreach (string day in days)
        {
            using var file = new FileStream(day, FileMode.CreateNew);
            file.SetLength(OneGibibyte);
        }

        await using ProxyProcess proxy = await ProxyProcess.StartAsync(production.EndPoint, shadow.EndPoint, "--log-file", logFile);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, $"GET /big?n={i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
        }

        proxy.Signal("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(5, proxy.StdoutLineCount);
        List<string> appended = [];
        foreach (string day in days)
        {
            using var file = new FileStream(day, FileMode.Open, FileAccess.Read);
            file.Position = OneGibibyte;
            using var reader = new StreamReader(file, Encoding.UTF8);
            appended.AddRange((await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }

        Assert.Equal(proxy.StdoutLines.Order(StringComparer.Ordinal), appended.Order(StringComparer.Ordinal));
    }
}
