using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;
using ShadowProxy.Logging;
using ShadowProxy.Metrics;
using ShadowProxy.Proxy;
using ShadowProxy.Transport;

namespace ShadowProxy.Hosting;

/// <summary>Runs the proxy: merges and validates the settings, then hosts <see cref="ProxyServer"/> until SIGTERM or Ctrl+C.</summary>
internal static class ProxyCommand
{
    /// <summary>How long the queued diagnostics get to reach stderr at the end of a normal stop.</summary>
    private static readonly TimeSpan DiagnosticsFlushTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The same after a second signal, which promises to exit at once.</summary>
    private static readonly TimeSpan SecondSignalFlushTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>A diagnostic line on a terminal or in a file.</summary>
    internal const string TerminalTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:l}{NewLine}{Exception}";

    /// <summary>A diagnostic line for the journal, which stamps each line itself and reads the "&lt;N&gt;" prefix as its priority.</summary>
    internal const string JournalTemplate = "<{" + JournalPriorityEnricher.PropertyName + "}>{Message:l}{NewLine}{Exception}";

    public static async Task<int> RunAsync(CommandLineSettings commandLine, CancellationToken cancellationToken)
    {
        if (!TryLoadSettings(commandLine, out ProxySettings? settings, out string error))
        {
            await Console.Error.WriteLineAsync($"ShadowProxy: {error}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (settings.LogFile is { } logFile && !LogFileLineOutput.TryOpen(logFile, out string problem))
        {
            await Console.Error.WriteLineAsync($"ShadowProxy: cannot write --log-file {OneLine.Quote(logFile)}: {OneLine.Text(problem)}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        ulong? openFiles = DescriptorLimit.Raise();
        int configuredConnections = settings.Options.MaxConnections;
        int eventLoops = EventLoops.Count;
        Action<ILoggerFactory>? beforeListening = null;
        if (openFiles is { } limit && DescriptorLimit.ClientsWithin(limit, eventLoops) is int fitting && fitting < configuredConnections)
        {
            settings = settings with { Options = settings.Options with { MaxConnections = fitting } };
            beforeListening = loggers => loggers.CreateLogger(typeof(DescriptorLimit).FullName!).ConnectionsLowered(
                configuredConnections, fitting, limit, DescriptorLimit.PerClient, DescriptorLimit.Reserve(eventLoops), EventLoop.Descriptors, eventLoops);
        }

        IHost host = BuildHost(settings, beforeListening);
        Logger diagnostics = host.Services.GetRequiredService<Logger>();
        ShutdownSignals? signals = null;
        try
        {
            if (await StartAsync(host, settings, cancellationToken).ConfigureAwait(false) is { } failed)
            {
                return failed;
            }

            // The first signal drains (the host's console lifetime); a second one exits at once: during the drain, and
            // also while the request lines are flushed after it (the handler stays registered until the very end).
            RequestLineWriter lines = host.Services.GetRequiredService<RequestLineWriter>();
            signals = new ShutdownSignals(
                host.Services.GetRequiredService<ILogger<ShutdownSignals>>(),
                exitCode =>
                {
                    // The lines of requests already answered still reach stdout and --log-file (its buffer is a second's worth).
                    lines.Close(SecondSignalFlushTimeout);
                    CloseDiagnostics(diagnostics, SecondSignalFlushTimeout);   // its own message among them
                    Environment.Exit(exitCode);
                },
                host.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication);
            await host.WaitForShutdownAsync(CancellationToken.None).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        finally
        {
            host.Dispose();   // drains and flushes the request lines
            CloseDiagnostics(diagnostics, DiagnosticsFlushTimeout);
            signals?.Dispose();
        }
    }

    /// <returns>The exit code when the proxy could not start; null once it runs.</returns>
    private static async Task<int?> StartAsync(IHost host, ProxySettings settings, CancellationToken cancellationToken)
    {
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (StartFailureLine(ex, settings) is { } line)
        {
            await Console.Error.WriteLineAsync(line).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// The one line that says why the host could not start, for the failures that have one (a taken port); null for
    /// any other, which the host reports itself, stack and all.
    /// </summary>
    private static string? StartFailureLine(Exception failure, ProxySettings? settings) => failure switch
    {
        SocketException listen => $"ShadowProxy: cannot listen on {settings?.Options.Listen}: {listen.Message}",
        // OpenTelemetry's exporter wraps the listener's failure (a taken port) when the endpoint starts.
        InvalidOperationException { InnerException: System.Net.HttpListenerException metrics } =>
            $"ShadowProxy: cannot serve metrics on {settings?.MetricsListen}: {metrics.Message}",
        _ => null,
    };

    /// <summary>
    /// The host's own "Hosting failed to start", with its stack trace, for a failure that <see cref="StartAsync"/> says
    /// in one line (a taken port): the operator gets that line, not the line and then fifteen more.
    /// </summary>
    private static bool IsHostReportOfAFailedStart(LogEvent logEvent) =>
        logEvent.Exception is { } failure && StartFailureLine(failure, settings: null) is not null
        && logEvent.Properties.TryGetValue("SourceContext", out LogEventPropertyValue? source)
        && source is ScalarValue { Value: "Microsoft.Extensions.Hosting.Internal.Host" };

    /// <summary>
    /// Writes out the queued diagnostics, waiting a bounded time: a stderr that nobody reads must not keep the
    /// process from exiting (what is still queued then is lost; the request lines are written by then).
    /// </summary>
    private static void CloseDiagnostics(Logger diagnostics, TimeSpan timeout)
    {
        try
        {
            _ = ThreadOfItsOwn.Run("ShadowProxy diagnostics close", diagnostics.Dispose).Wait(timeout);
        }
        catch (AggregateException)
        {
            // A sink failed while closing: nothing more can be said on stderr, and the exit must go on.
        }
    }

    /// <param name="environment">The environment variables to read; the process's own when null.</param>
    public static bool TryLoadSettings(
        CommandLineSettings commandLine, out ProxySettings settings, out string error, System.Collections.IDictionary? environment = null)
    {
        settings = null!;
        if (commandLine.Config is "")
        {
            error = "--config: '' is not a file name";
            return false;
        }

        string configPath = commandLine.Config ?? Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        IConfigurationRoot configuration;
        var fileLoad = new SettingsFileLoad();
        try
        {
            // Reloaded on change: the mirroring keys (MirrorPolicyWatcher) apply while running; the rest needs a restart.
            configuration = new ConfigurationBuilder()
                .AddJsonFile(source =>
                {
                    source.Path = Path.GetFileName(configPath);
                    source.FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(
                        Path.GetDirectoryName(Path.GetFullPath(configPath))!,
                        Microsoft.Extensions.FileProviders.Physical.ExclusionFilters.None);
                    source.Optional = commandLine.Config is null;
                    source.ReloadOnChange = true;
                    source.OnLoadException = fileLoad.OnLoadException;
                })
                .AddInMemoryCollection(EnvironmentSettings(environment ?? Environment.GetEnvironmentVariables()))
                .AddInMemoryCollection(commandLine.AsConfiguration())
                .Build();
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The file provider's own messages name no cause: the missing directory alone, or "Failed to load
            // configuration from file" with the reason (the JSON reader's line and byte, a duplicate key) inside.
            string reason = ex switch
            {
                DirectoryNotFoundException => "its directory does not exist",
                FileNotFoundException => "no such file",
                InvalidDataException { InnerException: not null } => ex.GetBaseException().Message,
                _ => ex.Message,
            };
            error = $"--config: cannot read {OneLine.Quote(configPath)}: {OneLine.Text(reason)}";
            return false;
        }

        fileLoad.Started = true;
        fileLoad.Provider = configuration.Providers.OfType<Microsoft.Extensions.Configuration.Json.JsonConfigurationProvider>().FirstOrDefault();
        if (!ProxySettings.TryCreate(configuration, commandLine.Exclude, out settings, out error, commandLine.CompareIgnoreField))
        {
            (configuration as IDisposable)?.Dispose();
            return false;
        }

        settings = settings with { FileLoad = fileLoad };
        return true;
    }

    /// <summary>SHADOWPROXY_SHADOW=10.0.0.7:80 sets ShadowProxy:Shadow (handy in a systemd unit's Environment=).</summary>
    private static IEnumerable<KeyValuePair<string, string?>> EnvironmentSettings(System.Collections.IDictionary environment)
    {
        const string Prefix = "SHADOWPROXY_";
        foreach (System.Collections.DictionaryEntry variable in environment)
        {
            if (variable.Key is string name && name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) && name.Length > Prefix.Length)
            {
                yield return new($"{ProxySettings.Section}:{name[Prefix.Length..].Replace("_", "", StringComparison.Ordinal)}", variable.Value as string);
            }
        }
    }

    /// <summary>
    /// Whether systemd connected stderr to the journal: JOURNAL_STREAM names that socket ("DEVICE:INODE"), and it is
    /// stderr's only if /proc/self/fd/2 is the same socket (the variable is inherited by whatever the service starts).
    /// </summary>
    private static bool StandardErrorIsJournal()
    {
        string? stream = Environment.GetEnvironmentVariable("JOURNAL_STREAM");
        int colon = stream?.IndexOf(':', StringComparison.Ordinal) ?? -1;
        if (stream is null || colon < 0)
        {
            return false;
        }

        try
        {
            return new FileInfo("/proc/self/fd/2").LinkTarget == $"socket:[{stream[(colon + 1)..]}]";
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <param name="beforeListening">Said on stderr just before "Listening on" (<see cref="ProxyServer.BeforeListening"/>).</param>
    public static IHost BuildHost(ProxySettings settings, Action<ILoggerFactory>? beforeListening = null)
    {
        // Args = []: System.CommandLine owns them. ContentRootPath: beside the program, not the working directory.
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            DisableDefaults = true,
        });
        builder.Logging.ClearProviders();

        // Under systemd: readiness (Type=notify: the unit's ExecStartPost, which adds the iptables redirect, waits
        // for it) and SIGTERM handling. Elsewhere AddSystemd changes nothing.
        builder.Services.AddSystemd();
        if (!SystemdHelpers.IsSystemdService() && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NOTIFY_SOCKET")))
        {
            // AddSystemd recognises systemd by reading its parent's /proc/PID/comm, which the unit's sandbox
            // (ProtectProc=invisible) hides. NOTIFY_SOCKET is systemd saying that it waits for READY=1: without
            // it the start would hang until TimeoutStartSec.
            builder.Services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
            builder.Services.AddSingleton<IHostLifetime, SystemdLifetime>();
        }

        bool underSystemd = StandardErrorIsJournal();
        Logger diagnostics = new LoggerConfiguration()
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .Enrich.With<JournalPriorityEnricher>()
            .Filter.ByExcluding(IsHostReportOfAFailedStart)
            // Queued: diagnostics are written on the proxy's event loops (Transport/EventLoop), which a paused
            // terminal or a slow journal must not stop. Past the queue's bound a message is dropped, not waited for.
            .WriteTo.Async(
                queued => queued.Sink(new StandardErrorSink(new MessageTemplateTextFormatter(
                    underSystemd ? JournalTemplate : TerminalTemplate,
                    CultureInfo.InvariantCulture),
                    StandardStreams.OpenError())),
                bufferSize: 10_000,
                blockWhenFull: false)
            .CreateLogger();
        // Not disposed by the container: RunAsync closes it last, after the host, with a bounded wait (CloseDiagnostics).
        builder.Services.AddSerilog(diagnostics, dispose: false);
        builder.Services.AddSingleton(diagnostics);
        builder.Services.Configure<HostOptions>(options =>
        {
            // The drain is bounded by the proxy's own timeout; the host must not cut it short.
            options.ShutdownTimeout = settings.Options.DrainTimeout + TimeSpan.FromSeconds(5);
        });
        builder.Services.AddSingleton(settings.Options);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ProxyMetrics>();
        // Factory registrations: the container disposes (drains and flushes) them after the proxy has stopped. The writer
        // is a service of its own for the second signal, which flushes it without the container (RunAsync).
        builder.Services.AddSingleton(services => new RequestLineWriter(
            StandardStreams.OpenOutput(),
            settings.Format,
            settings.LogFile,
            services.GetRequiredService<ILoggerFactory>().CreateLogger<RequestLineWriter>()));
        builder.Services.AddSingleton<IRequestLineSink>(services => new MeteredRequestLineSink(
            services.GetRequiredService<ProxyMetrics>(),
            services.GetRequiredService<RequestLineWriter>()));
        if (settings.StatsInterval is { } interval)
        {
            builder.Services.AddHostedService(services => new StatsReporter(
                services.GetRequiredService<ProxyMetrics>(), interval, TimeProvider.System, services.GetRequiredService<ILogger<StatsReporter>>()));
        }

        if (settings.MetricsListen is { } metricsListen)
        {
            builder.Services.AddHostedService(_ => new PrometheusEndpoint(metricsListen));
        }

        builder.Services.AddSingleton(settings);
        builder.Services.AddHostedService<MirrorPolicyWatcher>();
        builder.Services.AddHostedService(services => new ProxyServer(
            services.GetRequiredService<ProxyOptions>(),
            services.GetRequiredService<IRequestLineSink>(),
            services.GetRequiredService<ILogger<ProxyServer>>(),
            services.GetRequiredService<TimeProvider>())
        {
            BeforeListening = beforeListening is null ? null : () => beforeListening(services.GetRequiredService<ILoggerFactory>()),
        });
        return builder.Build();
    }
}
