using System.Diagnostics;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>Runs the built program as a real process (<c>dotnet ShadowProxy.dll ARGS</c>) and collects what it printed.</summary>
internal static class ShadowProxyProcess
{
    /// <summary>The project reference copies ShadowProxy.dll, its runtimeconfig and deps next to the test assembly.</summary>
    public static string DllPath { get; } = Path.Combine(AppContext.BaseDirectory, "ShadowProxy.dll");

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string? stdin, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        Task<string> stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
