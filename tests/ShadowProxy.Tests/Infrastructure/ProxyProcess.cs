using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

using ShadowProxy.Hosting;

namespace ShadowProxy.Tests.Infrastructure;

/// <summary>
/// The built program (ShadowProxy.dll, copied next to the test assembly by the project reference) run with
/// <c>dotnet</c> as a real process: its stdout lines, its stderr, its /proc figures, and signals sent to it.
/// </summary>
internal sealed partial class ProxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<IPEndPoint> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(string Text, TaskCompletionSource Seen)> _stderrWaiters = [];
    private int _stdoutLineCount;

    private ProxyProcess(Process process)
    {
        _process = process;
    }

    public int Pid => _process.Id;

    public IPEndPoint EndPoint { get; private set; } = null!;

    /// <summary>The request lines written to stdout so far.</summary>
    public IReadOnlyList<string> StdoutLines => [.. _stdout];

    /// <summary>How many lines stdout has had so far, without copying them (the soak asks after every 5,000 requests).</summary>
    public int StdoutLineCount => Volatile.Read(ref _stdoutLineCount);

    /// <summary>
    /// Whether the lines themselves are kept (<see cref="StdoutLines"/>, <see cref="Stdout"/>) or only counted: a
    /// 30-minute soak writes six million, and keeping them grew its test host by gigabytes.
    /// </summary>
    public bool KeepStdoutLines { get; set; } = true;

    /// <summary>
    /// Which stderr lines <see cref="Stderr"/> keeps (all by default). A soak's proxy writes a warning for every
    /// fault, millions in an hour; it keeps only the ones its checks look for. Waiters still see every line.
    /// </summary>
    public Func<string, bool>? KeepStderrLine { get; set; }

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

    /// <summary>The whole of stdout so far, one line per request line.</summary>
    public string Stdout => _stdout.IsEmpty ? "" : string.Join('\n', _stdout) + "\n";

    /// <summary>The program's path: the test project's reference copies it next to the tests.</summary>
    public static string ProgramPath => Path.Combine(AppContext.BaseDirectory, "ShadowProxy.dll");

    /// <summary>
    /// A published executable to run instead of the built ShadowProxy.dll (e.g. a Native AOT or single-file build),
    /// so that the process tests check what is deployed: <c>SHADOWPROXY_TEST_PROGRAM=DIR/ShadowProxy dotnet test ...</c>.
    /// </summary>
    public static string? PublishedProgram => Environment.GetEnvironmentVariable("SHADOWPROXY_TEST_PROGRAM") is { Length: > 0 } path ? path : null;

    /// <summary>Starts the program with exactly these arguments; it may exit at once (a bad option) or go on listening.</summary>
    public static ProxyProcess Start(params string[] arguments) => Start(Output.Read, null, arguments);

    /// <summary>
    /// Starts the program on a free port with a stderr that nobody reads, as a paused terminal or a stuck log
    /// collector would leave it: once the pipe's buffer (64 KiB) is full, a write to stderr that waits, waits for good.
    /// Returns once the port accepts connections (the "Listening" line cannot be read).
    /// </summary>
    public static Task<ProxyProcess> StartWithStderrUnreadAsync(IPEndPoint production, IPEndPoint shadow) =>
        StartOnFreePortAsync(Output.StderrUnread, null, production, shadow);

    /// <summary>
    /// Starts the program on 127.0.0.1 (a free port) with a stdout that nobody reads, as a stuck `| collector` would
    /// leave it: once the pipe's buffer (64 KiB) is full, the request-line writer's write waits for good. Stderr is
    /// read as usual; what stdout holds can be read once the program has exited (<see cref="ReadUnreadStdoutAsync"/>).
    /// </summary>
    public static Task<ProxyProcess> StartWithStdoutUnreadAsync(IPEndPoint production, IPEndPoint shadow, params string[] options) =>
        StartListeningAsync(Output.StdoutUnread, environment: null, production, shadow, options);

    /// <summary>
    /// Starts the program on a free port the way `ShadowProxy ... &gt; FILE 2&gt;&amp;1` would, through a shell: stdout
    /// and stderr are one open file, not in append mode. Returns once the port accepts connections.
    /// </summary>
    public static Task<ProxyProcess> StartIntoFileAsync(IPEndPoint production, IPEndPoint shadow, string file) =>
        StartOnFreePortAsync(Output.IntoFile, file, production, shadow);

    private enum Output
    {
        Read,
        StderrUnread,
        StdoutUnread,
        IntoFile,
    }

    private static async Task<ProxyProcess> StartOnFreePortAsync(Output output, string? file, IPEndPoint production, IPEndPoint shadow)
    {
        var listen = new IPEndPoint(IPAddress.Loopback, FreePort());
        ProxyProcess proxy = Start(output, file, "--listen", listen.ToString(), "--production", production.ToString(), "--shadow", shadow.ToString());
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await probe.ConnectAsync(listen);
                proxy.EndPoint = listen;
                return proxy;
            }
            catch (System.Net.Sockets.SocketException) when (waited.Elapsed < TimeSpan.FromSeconds(60) && !proxy.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    private static ProxyProcess Start(Output output, string? file, params string[] arguments) => Start(output, file, environment: null, arguments);

    private static ProxyProcess Start(Output output, string? file, IReadOnlyDictionary<string, string>? environment, params string[] arguments) =>
        Start(output, file, environment, shellSetup: null, arguments);

    /// <param name="shellSetup">Shell commands run before the program, in the shell that then becomes it (a `ulimit`).</param>
    private static ProxyProcess Start(Output output, string? file, IReadOnlyDictionary<string, string>? environment, string? shellSetup, params string[] arguments)
    {
        string? published = PublishedProgram;
        string program = published ?? ProgramPath;
        Assert.True(File.Exists(program), "the test project's reference should copy the program next to the tests: " + program);
        string host = published ?? Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        string[] command = published is null ? [host, ProgramPath, .. arguments] : [host, .. arguments];
        string? shellLine = output == Output.IntoFile
            ? "exec \"$0\" \"$@\" > \"$SHADOWPROXY_TEST_OUTPUT\" 2>&1"   // the shell opens the file once for both descriptors
            : shellSetup is null ? null : shellSetup + "; exec \"$0\" \"$@\"";
        var start = new ProcessStartInfo(shellLine is null ? command[0] : "/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = output != Output.IntoFile,
            RedirectStandardError = output != Output.IntoFile,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        if (shellLine is not null)
        {
            // The shell runs its line, then becomes the program (exec): the process is the program's, as without it.
            if (file is not null)
            {
                start.Environment["SHADOWPROXY_TEST_OUTPUT"] = file;
            }

            foreach (string argument in (string[])["-c", shellLine, .. command])
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            foreach (string argument in command[1..])
            {
                start.ArgumentList.Add(argument);
            }
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var proxy = new ProxyProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                proxy._stdoutClosed.TrySetResult();
            }
            else
            {
                if (proxy.KeepStdoutLines)
                {
                    proxy._stdout.Enqueue(e.Data);
                }

                Interlocked.Increment(ref proxy._stdoutLineCount);
            }
        };
        process.ErrorDataReceived += (_, e) => proxy.OnStderr(e.Data);
        process.Start();
        if (output is Output.IntoFile or Output.StdoutUnread)
        {
            proxy._stdoutClosed.TrySetResult();   // not read here: nothing to wait for at exit
        }
        else
        {
            process.BeginOutputReadLine();
        }

        if (output is Output.Read or Output.StdoutUnread)
        {
            process.BeginErrorReadLine();
        }
        else
        {
            proxy._stderrClosed.TrySetResult();
        }

        return proxy;
    }

    /// <summary>Starts the program on 127.0.0.1 (a free port) and waits until it says where it listens.</summary>
    public static Task<ProxyProcess> StartAsync(IPEndPoint production, IPEndPoint shadow, params string[] options) =>
        StartAsync(environment: null, production, shadow, options);

    /// <summary>The same, with these variables added to the program's environment.</summary>
    public static Task<ProxyProcess> StartAsync(
        IReadOnlyDictionary<string, string>? environment, IPEndPoint production, IPEndPoint shadow, params string[] options) =>
        StartListeningAsync(Output.Read, environment, production, shadow, options);

    /// <summary>The same, started by a shell that first runs <paramref name="shellSetup"/> (a `ulimit -n` for the program).</summary>
    public static Task<ProxyProcess> StartAfterAsync(string shellSetup, IPEndPoint production, IPEndPoint shadow, params string[] options) =>
        StartListeningAsync(Output.Read, environment: null, production, shadow, options, shellSetup);

    /// <summary>Starts the program on 127.0.0.1 (a free port) with this output, and waits until it says where it listens.</summary>
    private static async Task<ProxyProcess> StartListeningAsync(
        Output output, IReadOnlyDictionary<string, string>? environment, IPEndPoint production, IPEndPoint shadow, string[] options, string? shellSetup = null)
    {
        ProxyProcess proxy = Start(
            output, null, environment, shellSetup, ["--listen", "127.0.0.1:0", "--production", production.ToString(), "--shadow", shadow.ToString(), .. options]);
        try
        {
            await proxy.WaitUntilListeningAsync();
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or InvalidOperationException)
        {
            await proxy.DisposeAsync();
            throw;
        }

        return proxy;
    }

    /// <summary>Runs the program to its end, stdin empty, and returns its exit code and output (bounded).</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] arguments) =>
        RunWithInputAsync(null, arguments);

    /// <summary>Runs the program to its end with its stdout closed (`&gt;&amp;-`), stdin empty (bounded).</summary>
    public static async Task<(int ExitCode, string Stderr)> RunWithStdoutClosedAsync(params string[] arguments)
    {
        await using ProxyProcess process = Start(Output.Read, null, environment: null, shellSetup: "exec 1>&-", arguments);
        process._process.StandardInput.Close();
        int exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (exitCode, process.Stderr);
    }

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
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Waits (bounded) until the program says where it listens; throws if it exits or closes stderr first.</summary>
    public async Task WaitUntilListeningAsync()
    {
        try
        {
            EndPoint = await _listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("the proxy did not report where it listens; stderr: " + Stderr);
        }
    }

    /// <summary>Sends a signal by name (TERM, INT, ...), as systemd or a terminal would.</summary>
    public void Signal(string signal) => SignalAsync(signal).GetAwaiter().GetResult();

    /// <summary>Open file descriptors, from /proc/PID/fd.</summary>
    public int OpenDescriptors() => Directory.GetFileSystemEntries($"/proc/{Pid}/fd").Length;

    /// <summary>Lowers (or raises) the running program's soft open-file limit, the hard one unchanged: `prlimit --pid PID --nofile=SOFT:`.</summary>
    public async Task SetOpenFileLimitAsync(int soft)
    {
        using var prlimit = Process.Start(new ProcessStartInfo("prlimit", ["--pid", Pid.ToString(CultureInfo.InvariantCulture), $"--nofile={soft}:"])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        string error = await prlimit.StandardError.ReadToEndAsync();
        await prlimit.WaitForExitAsync();
        Assert.True(prlimit.ExitCode == 0, $"prlimit --pid {Pid} --nofile={soft}: failed: {error}");
    }

    /// <summary>Open sockets (listener and connections), from /proc/PID/fd.</summary>
    public int OpenSockets() => Directory.GetFileSystemEntries($"/proc/{Pid}/fd")
        .Count(fd => TryLinkTarget(fd)?.StartsWith("socket:", StringComparison.Ordinal) == true);

    /// <summary>Open descriptors whose /proc/PID/fd link reads exactly so (anon_inode:[eventpoll], anon_inode:[eventfd]).</summary>
    public int OpenDescriptors(string target) => Directory.GetFileSystemEntries($"/proc/{Pid}/fd")
        .Count(fd => TryLinkTarget(fd) == target);

    /// <summary>What the open descriptors are, grouped by kind (socket, pipe, anon_inode:[eventpoll], a file...): for failure messages.</summary>
    public string DescribeDescriptors()
    {
        var kinds = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (string fd in Directory.GetFileSystemEntries($"/proc/{Pid}/fd"))
        {
            string? target = TryLinkTarget(fd);
            if (target is null)
            {
                continue;   // closed while listing
            }

            string kind = target.StartsWith("socket:", StringComparison.Ordinal) ? "socket"
                : target.StartsWith("pipe:", StringComparison.Ordinal) ? "pipe"
                : target.EndsWith(".dll", StringComparison.Ordinal) ? "assembly"
                : target;
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }

        return string.Join(", ", kinds.Select(kind => $"{kind.Value} {kind.Key}"));
    }

    /// <summary>The names of the process's threads (/proc/PID/task/*/comm: the kernel keeps 15 characters of each).</summary>
    public IReadOnlyList<string> ThreadNames() =>
        [.. Directory.EnumerateDirectories($"/proc/{Pid}/task").Select(task => File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n'))];

    /// <summary>
    /// CPU time (user and system, in clock ticks) of each thread whose name starts so, by thread id, from
    /// /proc/PID/task/*/stat.
    /// </summary>
    public IReadOnlyDictionary<int, long> ThreadCpuTicks(string namePrefix) =>
        Directory.EnumerateDirectories($"/proc/{Pid}/task")
            .Where(task => File.ReadAllText(Path.Combine(task, "comm")).StartsWith(namePrefix, StringComparison.Ordinal))
            .ToDictionary(
                task => int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture),
                task =>
                {
                    // The fields after the name, which is in parentheses and may hold spaces: utime and stime are 12th and 13th.
                    string stat = File.ReadAllText(Path.Combine(task, "stat"));
                    string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                });

    /// <summary>Threads and resident memory, from /proc/PID/status.</summary>
    public (int Threads, long ResidentKb) Status()
    {
        int threads = 0;
        long rss = 0;
        foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }

        return (threads, rss);
    }

    /// <summary>Sends a signal by name (TERM, INT, ...) with kill(1).</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-s", signal, Pid.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>
    /// The same signal twice within a millisecond or two, as GNU timeout delivers it (to the program, then to its process
    /// group): one shell, two kill(1)s.
    /// </summary>
    public async Task SignalTwiceAtOnceAsync(string signal)
    {
        using var shell = Process.Start("/bin/sh", ["-c", "kill -s \"$0\" \"$1\" && kill -s \"$0\" \"$1\"", signal, Pid.ToString(CultureInfo.InvariantCulture)]);
        await shell.WaitForExitAsync();
        Assert.Equal(0, shell.ExitCode);
    }

    /// <summary>An operator's second signal: sent once the first is past <see cref="ShutdownSignals.RepeatWindow"/>, in which a repeat counts as the same one.</summary>
    public async Task SignalAgainAsync(string signal)
    {
        await Task.Delay(ShutdownSignals.RepeatWindow * 2);
        await SignalAsync(signal);
    }

    /// <summary>Waits for the process to exit and for its stdout and stderr to be read to the end; returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(limit.Token);
        await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(limit.Token);
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>What a stdout left unread (<see cref="StartWithStdoutUnreadAsync"/>) holds, read once the program has exited.</summary>
    public async Task<string> ReadUnreadStdoutAsync()
    {
        Assert.True(_process.HasExited, "stdout is read to its end only after the exit");
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return await _process.StandardOutput.ReadToEndAsync(limit.Token);
    }

    /// <summary>Waits (bounded) until stderr has a line containing <paramref name="text"/>.</summary>
    public async Task WaitForStderrAsync(string text, TimeSpan? timeout = null)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_stderr)
        {
            if (_stderr.ToString().Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            _stderrWaiters.Add((text, seen));
        }

        try
        {
            await seen.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"stderr never said '{text}'; it said: {Stderr}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static string? TryLinkTarget(string fd)
    {
        try
        {
            return new FileInfo(fd).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            _stderrClosed.TrySetResult();
            _listening.TrySetException(new IOException("the proxy closed stderr before listening; stderr: " + Stderr));
            return;
        }

        lock (_stderr)
        {
            if (KeepStderrLine?.Invoke(line) ?? true)
            {
                _stderr.AppendLine(line);
            }

            foreach ((string text, TaskCompletionSource seen) in _stderrWaiters)
            {
                if (line.Contains(text, StringComparison.Ordinal))
                {
                    seen.TrySetResult();
                }
            }
        }

        Match match = ListeningLine().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(IPEndPoint.Parse(match.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"Listening on (\d+\.\d+\.\d+\.\d+:\d+)")]
    private static partial Regex ListeningLine();
}
