using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Events;
using ShadowProxy.Logging;
using ShadowProxy.Proxy;

namespace ShadowProxy.Hosting;

/// <summary>Runs the proxy: merges and validates the settings, then hosts <see cref="ProxyServer"/> until SIGTERM or Ctrl+C.</summary>
internal static class ProxyCommand
{
    public static async Task<int> RunAsync(CommandLineSettings commandLine, CancellationToken cancellationToken)
    {
        if (!TryLoadSettings(commandLine, out ProxySettings? settings, out string error))
        {
            await Console.Error.WriteLineAsync($"ShadowProxy: {error}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        using IHost host = BuildHost(settings);
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            await Console.Error.WriteLineAsync($"ShadowProxy: cannot listen on {settings.Options.Listen}: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        // The first signal drains (the host's console lifetime); a second one, while the drain runs, exits at once.
        using var signals = new ShutdownSignals(host.Services.GetRequiredService<ILogger<ShutdownSignals>>(), Environment.Exit);
        await host.WaitForShutdownAsync(CancellationToken.None).ConfigureAwait(false);
        return ExitCodes.Success;
    }

    public static bool TryLoadSettings(CommandLineSettings commandLine, out ProxySettings settings, out string error)
    {
        settings = null!;
        string configPath = commandLine.Config ?? Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        IConfigurationRoot configuration;
        try
        {
            configuration = new ConfigurationBuilder()
                .AddJsonFile(Path.GetFullPath(configPath), optional: commandLine.Config is null, reloadOnChange: false)
                .AddEnvironmentVariables("SHADOWPROXY_")
                .AddInMemoryCollection(commandLine.AsConfiguration())
                .Build();
        }
        catch (Exception ex) when (ex is FileNotFoundException or InvalidDataException or FormatException or IOException)
        {
            error = $"--config: cannot read '{configPath}': {ex.Message.ReplaceLineEndings(" ")}";
            return false;
        }

        return ProxySettings.TryCreate(configuration, commandLine.Exclude, out settings, out error);
    }

    public static IHost BuildHost(ProxySettings settings)
    {
        // Args = []: System.CommandLine owns them. ContentRootPath: beside the program, not the working directory.
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            DisableDefaults = true,
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSerilog(diagnostics => diagnostics
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .WriteTo.Console(
                outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: LogEventLevel.Verbose,
                formatProvider: CultureInfo.InvariantCulture));
        builder.Services.Configure<HostOptions>(options =>
        {
            // The drain is bounded by the proxy's own timeout; the host must not cut it short.
            options.ShutdownTimeout = settings.Options.DrainTimeout + TimeSpan.FromSeconds(5);
        });
        builder.Services.AddSingleton(settings.Options);
        builder.Services.AddSingleton(TimeProvider.System);
        // A factory registration: the container disposes (drains and flushes) it after the proxy has stopped.
        builder.Services.AddSingleton<IRequestLineSink>(services => new RequestLineWriter(
            Console.OpenStandardOutput(),
            settings.Format,
            settings.LogFile,
            services.GetRequiredService<ILoggerFactory>().CreateLogger<RequestLineWriter>()));
        builder.Services.AddHostedService<ProxyServer>();
        return builder.Build();
    }
}
