using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using ShadowProxy.Hosting;
using ShadowProxy.Mirroring;
using ShadowProxy.Tests.Infrastructure;

namespace ShadowProxy.Tests.Controls;

/// <summary>The mirroring keys follow the settings file while the proxy runs, on the connections already open.</summary>
public sealed class HotReloadTests
{
    private const string Ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    private static readonly TimeSpan ReloadWait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_changed_settings_file_applies_to_the_next_request_on_an_open_connection_and_a_bad_value_keeps_the_old_policy()
    {
        await using var production = LoopbackBackend.Start(async connection =>
        {
            while (await connection.ReadRequestAsync() is not null)
            {
                await connection.SendAsync(Ok);
            }
        });
        await using var shadow = LoopbackBackend.Start(Ok);
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");
        await File.WriteAllTextAsync(file, Settings(production, shadow, """ "ShadowPercent": 100 """));
        (MirrorPolicyWatcher watcher, MirrorPolicySource source) = await WatchAsync(file);
        using MirrorPolicyWatcher disposing = watcher;
        await using var proxy = await TestProxy.StartAsync(production.EndPoint, shadow.EndPoint, options => options with { Mirror = source });
        await using RawConnection client = await RawConnection.OpenAsync(proxy.EndPoint);

        await client.SendAsync("GET /before HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.EndsWith("ok", await client.ReadResponseAsync(), StringComparison.Ordinal);

        await ChangeAsync(file, Settings(production, shadow, """ "ShadowPercent": 0, "ShadowHeader": "X-Shadow: 1", "Exclude": [ "/hidden" ] """),
            watcher, () => source.Current.Percent == 0);
        await client.SendAsync("GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.EndsWith("ok", await client.ReadResponseAsync(), StringComparison.Ordinal);
        await client.SendAsync("GET /hidden HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.EndsWith("ok", await client.ReadResponseAsync(), StringComparison.Ordinal);

        MirrorPolicy applied = source.Current;
        // Until the reload that read the whole file: one that caught it half-written fails too, with "cannot read".
        await ChangeAsync(file, Settings(production, shadow, """ "ShadowPercent": 250 """), watcher,
            () => watcher.LastError?.Contains("--shadow-percent", StringComparison.Ordinal) == true);
        Assert.Same(applied, source.Current);
        Assert.Contains("--shadow-percent: '250'", watcher.LastError, StringComparison.Ordinal);
        await client.SendAsync("GET /still HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.EndsWith("ok", await client.ReadResponseAsync(), StringComparison.Ordinal);
        await proxy.StopAsync();

        Assert.Equal(4, production.Requests.Count);   // all four on the client's one connection, answered across both reloads
        Assert.Equal(["/before:None", "/after:SampledOut", "/still:SampledOut"], proxy.Records.Select(record => $"{record.Url}:{record.ShadowSkipped}"));
        Assert.Single(shadow.Requests);
        Assert.Equal("X-Shadow: 1", applied.ShadowHeader);
        await watcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task An_unreadable_settings_file_keeps_the_policy_in_force_and_a_fixed_file_applies()
    {
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");
        await File.WriteAllTextAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 25 } }""");
        (MirrorPolicyWatcher watcher, MirrorPolicySource source) = await WatchAsync(file);
        using MirrorPolicyWatcher disposing = watcher;
        MirrorPolicy initial = source.Current;

        await ChangeAsync(file, """{ "ShadowProxy": { "ShadowPercent": 0, """, watcher, () => watcher.LastError is not null);
        Assert.Same(initial, source.Current);
        Assert.Contains("cannot read the settings file", watcher.LastError, StringComparison.Ordinal);

        await ChangeAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 5 } }""", watcher, () => source.Current.Percent == 5);
        Assert.Null(watcher.LastError);
        await watcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_file_that_cannot_be_read_is_not_called_a_bad_mirroring_value()
    {
        // The warning said "Settings file reloaded with a bad mirroring value, ignored: cannot read the settings file:
        // ...": nothing was reloaded, and no value was at fault.
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");
        await File.WriteAllTextAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 25 } }""");
        var diagnostics = new RecordingLogger();
        (MirrorPolicyWatcher watcher, _) = await WatchAsync(file, diagnostics);
        using MirrorPolicyWatcher disposing = watcher;

        await ChangeAsync(file, """{ "ShadowProxy": { "ShadowPercent": 0, """, watcher, () => watcher.LastError is not null);
        await ChangeAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 250 } }""", watcher,
            () => watcher.LastError?.Contains("--shadow-percent", StringComparison.Ordinal) == true);
        await watcher.StopAsync(CancellationToken.None);

        string[] refused = [.. diagnostics.Warnings.Where(warning => warning.StartsWith("Settings file", StringComparison.Ordinal))];
        Assert.StartsWith("Settings file change not applied: cannot read the settings file: ", refused[0], StringComparison.Ordinal);
        Assert.StartsWith("Settings file change not applied: --shadow-percent: '250' ", refused[^1], StringComparison.Ordinal);
        Assert.All(refused, warning => Assert.EndsWith("; keeping percent 25, methods all, max in flight --max-connections, max body unbounded, 0 excluded paths", warning, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_editors_save_by_rename_applies_and_a_missing_file_between_keeps_the_policy()
    {
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");
        await File.WriteAllTextAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 25 } }""");
        (MirrorPolicyWatcher watcher, MirrorPolicySource source) = await WatchAsync(file);
        using MirrorPolicyWatcher disposing = watcher;

        // Written beside, then renamed over the original (atomic save).
        await ReplaceAsync(watcher, () => source.Current.Percent == 10, async () =>
        {
            await File.WriteAllTextAsync(file + ".tmp", """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 10 } }""");
            File.Move(file + ".tmp", file, overwrite: true);
        });

        // The original renamed away (backup), then a new file written under the name.
        // While the name is missing, a reload must not read it as an empty file, i.e. as the defaults (everything mirrored).
        MirrorPolicy beforeBackup = source.Current;
        await ReplaceAsync(watcher, () => true, () =>
        {
            File.Move(file, file + "~");
            return Task.CompletedTask;
        });
        Assert.Same(beforeBackup, source.Current);
        Assert.Contains("cannot read the settings file", watcher.LastError, StringComparison.Ordinal);
        await ChangeAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 5 } }""", watcher, () => source.Current.Percent == 5);
        Assert.Null(watcher.LastError);
        await watcher.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_settings_file_that_cannot_be_opened_is_a_warning_the_policy_stays_and_a_readable_one_applies()
    {
        using var directory = new TempDirectory();
        string file = directory.File("settings.json");
        await File.WriteAllTextAsync(file, """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 25 } }""");
        (MirrorPolicyWatcher watcher, MirrorPolicySource source) = await WatchAsync(file);
        using MirrorPolicyWatcher disposing = watcher;
        MirrorPolicy initial = source.Current;

        // A file there that the proxy cannot open: in production, a save by another user with mode 0600 (EACCES, under
        // the unit's DynamicUser); here, where the tests may run as root, whom no mode stops, a Unix socket renamed
        // over the file (open(2) fails with ENXIO).
        string socketPath = directory.File("settings.sock");
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
            await ReplaceAsync(watcher, () => watcher.LastError is not null, () =>
            {
                File.Move(socketPath, file, overwrite: true);
                return Task.CompletedTask;
            });
        }

        Assert.Same(initial, source.Current);
        Assert.Contains("cannot read the settings file", watcher.LastError, StringComparison.Ordinal);

        await ReplaceAsync(watcher, () => source.Current.Percent == 5, async () =>
        {
            await File.WriteAllTextAsync(file + ".tmp", """{ "ShadowProxy": { "Shadow": "127.0.0.1:9", "ShadowPercent": 5 } }""");
            File.Move(file + ".tmp", file, overwrite: true);
        });
        Assert.Null(watcher.LastError);
        await watcher.StopAsync(CancellationToken.None);
    }

    /// <summary>Loads the settings from <paramref name="file"/> (no environment) and starts watching it.</summary>
    private static async Task<(MirrorPolicyWatcher Watcher, MirrorPolicySource Source)> WatchAsync(string file, ILogger? diagnostics = null)
    {
        Assert.True(ProxyCommand.TryLoadSettings(new CommandLineSettings(Config: file), out ProxySettings settings, out string error, new System.Collections.Hashtable()), error);
        var watcher = new MirrorPolicyWatcher(settings, diagnostics is null ? NullLogger<MirrorPolicyWatcher>.Instance : new Typed(diagnostics));
        await watcher.StartAsync(CancellationToken.None);
        return (watcher, settings.Options.Mirror);
    }

    /// <summary>Makes the change to the file and awaits the watcher's reloads until the condition holds.</summary>
    private static async Task ReplaceAsync(MirrorPolicyWatcher watcher, Func<bool> applied, Func<Task> change)
    {
        using var limit = new CancellationTokenSource(ReloadWait);
        Task reload = watcher.NextReload;
        await change();
        while (true)
        {
            await reload.WaitAsync(limit.Token);
            if (applied())
            {
                return;
            }

            reload = watcher.NextReload;
        }
    }

    private static string Settings(LoopbackBackend production, LoopbackBackend shadow, string mirroring) =>
        $$"""{ "ShadowProxy": { "Production": "{{production.EndPoint}}", "Shadow": "{{shadow.EndPoint}}", {{mirroring}} } }""";

    /// <summary>Writes the file and awaits the watcher's reloads (a write can raise more than one) until the condition holds.</summary>
    private static Task ChangeAsync(string file, string content, MirrorPolicyWatcher watcher, Func<bool> applied) =>
        ReplaceAsync(watcher, applied, () => File.WriteAllTextAsync(file, content));

    private sealed class Typed(ILogger inner) : ILogger<MirrorPolicyWatcher>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            inner.Log(logLevel, eventId, state, exception, formatter);
    }
}
