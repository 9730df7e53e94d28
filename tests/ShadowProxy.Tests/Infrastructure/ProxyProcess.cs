using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>The built program run as a real process, its stdout and stderr captured as Logstash and an operator would see them.</summary>
internal sealed class ProxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ProxyProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public IReadOnlyList<string> StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The program's path: the test project references it, so it is built beside the tests.</summary>
    public static string ProgramPath => Path.Combine(AppContext.BaseDirectory, "ShadowProxy.dll");

    public static ProxyProcess Start(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ProgramPath);
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var proxy = new ProxyProcess(new Process { StartInfo = info });
        proxy._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (proxy._stdout)
                {
                    proxy._stdout.Append(e.Data).Append('\n');
                }
            }
        };
        proxy._process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (proxy._stderr)
            {
                proxy._stderr.Append(e.Data).Append('\n');
            }

            if (e.Data.Contains("Listening on", StringComparison.Ordinal))
            {
                proxy._listening.TrySetResult();
            }
        };
        proxy._process.Start();
        proxy._process.BeginOutputReadLine();
        proxy._process.BeginErrorReadLine();
        return proxy;
    }

    /// <summary>Runs the program to its end, stdin empty, and returns its exit code and output (bounded).</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] arguments) =>
        RunWithInputAsync(null, arguments);

    /// <summary>Runs the program to its end with <paramref name="stdin"/> as its input (bounded).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunWithInputAsync(string? stdin, params string[] arguments)
    {
        await using ProxyProcess process = Start(arguments);
        if (stdin is not null)
        {
            await process._process.StandardInput.WriteAsync(stdin);
        }

        process._process.StandardInput.Close();
        int exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (exitCode, process.Stdout, process.Stderr);
    }

    /// <summary>A loopback port nothing listens on right now.</summary>
    public static int FreePort()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    public async Task WaitUntilListeningAsync()
    {
        Task exited = _process.WaitForExitAsync();
        Task first = await Task.WhenAny(_listening.Task, exited).WaitAsync(TimeSpan.FromSeconds(60));
        if (first == exited)
        {
            throw new InvalidOperationException($"The proxy exited with {_process.ExitCode} before listening: {Stderr}");
        }
    }

    /// <summary>Sends a POSIX signal, as systemd (SIGTERM) or a terminal (SIGINT) would.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(limit.Token);
        _process.WaitForExit();   // lets the redirected streams drain to their ends
        return _process.ExitCode;
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
