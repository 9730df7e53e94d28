using System.Diagnostics;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Cli;

/// <summary>
/// --log-file across midnight: the lines before it stay in the old day's file, the lines after it go to the new day's,
/// and none is lost or written twice. The program runs with libfaketime preloaded (Debian's faketime package), its
/// wall clock starting a few seconds before midnight; its monotonic clock, which timeouts and the flush timer use,
/// stays real.
/// </summary>
public sealed class LogFileMidnightTests
{
    private const string Ok = FaultyBackends.ProductionOk;

    [Fact]
    public async Task Lines_written_across_midnight_land_in_each_days_file_and_none_is_lost()
    {
        string library = FakeTimeLibrary();
        await using var production = LoopbackBackend.Start(Ok);
        await using var shadow = LoopbackBackend.Start(Ok);
        using var directory = new TempDirectory();
        var environment = new Dictionary<string, string>
        {
            ["LD_PRELOAD"] = library,
            // Twenty seconds before midnight at the program's start (in UTC, so that "the day" does not depend on the box's
            // zone): enough for a slow start-up to leave some requests on the old day.
            ["FAKETIME"] = "@2026-11-28 23:59:40",
            ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1",
            ["TZ"] = "UTC",
        };
        await using ProxyProcess proxy = await ProxyProcess.StartAsync(environment, production.EndPoint, shadow.EndPoint, "--log-file", directory.File("requests.log"));
        string oldDay = directory.File("requests20261128.log");
        string newDay = directory.File("requests20261129.log");

        // Requests until the new day's file has appeared (the sink opens it at the first line after midnight), then a
        // few more: lines on both sides of the roll, and some written into the new file after it was opened.
        var sent = new List<string>();
        var waited = Stopwatch.StartNew();
        int afterRoll = 0;
        while (afterRoll < 3)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), "the new day's file never appeared; the program's stderr:\n" + proxy.Stderr);
            string target = $"/midnight?n={sent.Count}";
            Assert.Equal(Ok, await RawHttp.SendAsync(proxy.EndPoint, $"GET {target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
            sent.Add(target);
            afterRoll += File.Exists(newDay) ? 1 : 0;
            await Task.Delay(200);
        }

        proxy.Signal("TERM");
        Assert.Equal(0, await proxy.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        string[] before = await File.ReadAllLinesAsync(oldDay);
        string[] after = await File.ReadAllLinesAsync(newDay);
        Assert.NotEmpty(before);
        Assert.NotEmpty(after);
        Assert.Equal([oldDay, newDay], Directory.GetFiles(directory.Path).Order(StringComparer.Ordinal));
        // The old day's lines, then the new day's: every request once, in the order sent, as on stdout.
        Assert.Equal(proxy.StdoutLines, [.. before, .. after]);
        Assert.Equal(sent, [.. before.Concat(after).Select(line => line[..line.IndexOf(' ', StringComparison.Ordinal)])]);
    }

    /// <summary>libfaketime.so.1 in this box's multiarch directory (/usr/lib/x86_64-linux-gnu/faketime on amd64).</summary>
    private static string FakeTimeLibrary()
    {
        string? found = Directory.EnumerateDirectories("/usr/lib", "*-linux-gnu*")
            .Select(directory => Path.Combine(directory, "faketime", "libfaketime.so.1"))
            .FirstOrDefault(File.Exists);
        Assert.True(found is not null, "this test needs libfaketime: apt-get install faketime");
        return found;
    }
}
