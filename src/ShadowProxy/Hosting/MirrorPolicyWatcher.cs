using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using ShadowProxy.Mirroring;

namespace ShadowProxy.Hosting;

/// <summary>
/// Re-reads the mirroring keys when the settings file changes and swaps the new policy in whole; connections and
/// requests in flight are untouched. An invalid value is one warning on stderr, and the policy in force stays.
/// At start-up it says on stderr when writes are being duplicated to the shadow.
/// </summary>
internal sealed partial class MirrorPolicyWatcher : IHostedService, IDisposable
{
    private readonly IConfiguration _configuration;
    private readonly string[]? _excludeOverride;
    private readonly MirrorPolicySource _source;
    private readonly SettingsFileLoad? _fileLoad;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private IDisposable? _subscription;
    private IDisposable? _unopenableWatch;
    private TaskCompletionSource _nextReload = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public MirrorPolicyWatcher(ProxySettings settings, ILogger<MirrorPolicyWatcher> logger)
    {
        _configuration = settings.Configuration;
        _excludeOverride = settings.ExcludeOverride;
        _source = settings.Options.Mirror;
        _fileLoad = settings.FileLoad;
        _logger = logger;
    }

    /// <summary>The last reload's complaint, or null when it was applied.</summary>
    public string? LastError { get; private set; }

    /// <summary>Completes when the next reload has been handled (applied or refused).</summary>
    public Task NextReload
    {
        get
        {
            lock (_gate)
            {
                return _nextReload.Task;
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        WarnAboutWrites(_source.Current);
        _subscription = ChangeToken.OnChange(_configuration.GetReloadToken, Reload);
        _unopenableWatch = _fileLoad?.WatchUnopenable(Refuse);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _subscription?.Dispose();
        _unopenableWatch?.Dispose();
    }

    /// <summary>Reads the mirroring keys again; applies them only if every one is valid.</summary>
    public void Reload()
    {
        string? error = _fileLoad?.TakeReloadError();
        if (error is null)
        {
            var reader = new ProxySettings.Reader(_configuration.GetSection(ProxySettings.Section));
            MirrorPolicy policy = MirrorSettings.Read(reader, _excludeOverride);
            error = reader.Error;
            if (error is null)
            {
                _source.Update(policy);
                Reloaded(_logger, policy);
                WarnAboutWrites(policy);
            }
        }

        if (error is not null)
        {
            ReloadRefused(_logger, error, _source.Current);
        }

        Handled(error);
    }

    /// <summary>A reload that could not even read the file: the policy in force stays.</summary>
    private void Refuse(string error)
    {
        ReloadRefused(_logger, error, _source.Current);
        Handled(error);
    }

    private void Handled(string? error)
    {
        TaskCompletionSource done;
        lock (_gate)
        {
            LastError = error;
            done = _nextReload;
            _nextReload = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        done.TrySetResult();
    }

    private void WarnAboutWrites(MirrorPolicy policy)
    {
        string[] unsafeMethods = [.. policy.UnsafeMethodsMirrored];
        if (unsafeMethods.Length > 0 && policy.Percent > 0)
        {
            WritesDuplicated(_logger, string.Join(", ", unsafeMethods));
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "Writes are duplicated: {Methods} requests are sent to the shadow too (limit with --shadow-methods GET,HEAD)")]
    private static partial void WritesDuplicated(ILogger logger, string methods);

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Settings file reloaded; mirroring: {Policy}")]
    private static partial void Reloaded(ILogger logger, MirrorPolicy policy);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "Settings file change not applied: {Error}; keeping {Policy}")]
    private static partial void ReloadRefused(ILogger logger, string error, MirrorPolicy policy);
}
