using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Deploy;

/// <summary>
/// deploy/test/measure-start.sh, which measured deploy/README.md's start-up figures: it times the port of the proxy
/// it starts, never a port another program answers on (it used the fixed 18091, one of the benchmark's proxy ports).
/// </summary>
public sealed class MeasureStartTests
{
    [Fact]
    public async Task A_port_another_program_answers_on_is_refused_instead_of_timed()
    {
        using var other = new TcpListener(IPAddress.Loopback, 0);
        other.Start();
        int port = ((IPEndPoint)other.LocalEndpoint).Port;

        (int exitCode, string stdout, string stderr) = await RunAsync(port, runs: 1);

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"127.0.0.1:{port} is taken by another program", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("run 1:", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task It_times_the_proxy_it_starts_on_a_free_port_of_its_choosing()
    {
        (int exitCode, string stdout, string stderr) = await RunAsync(port: null, runs: 1);

        Assert.True(exitCode == 0, stderr);
        Assert.Matches(@"^run 1: Listening after \d+ ms, port answers after \d+ ms, \d+ ms of CPU\n$", stdout);
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(int? port, int runs)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(Repository.Root, "deploy", "test", "measure-start.sh"));
        if (ProxyProcess.PublishedProgram is { } published)
        {
            start.ArgumentList.Add(published);
        }
        else
        {
            start.ArgumentList.Add(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet");
            start.ArgumentList.Add(ProxyProcess.ProgramPath);
        }

        start.ArgumentList.Add(runs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.Environment.Remove("MEASURE_PORT");
        if (port is { } given)
        {
            start.Environment["MEASURE_PORT"] = given.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);   // the script and the proxy it started
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
