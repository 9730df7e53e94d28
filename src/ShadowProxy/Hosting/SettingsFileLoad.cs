using Microsoft.Extensions.Configuration;

namespace ShadowProxy.Hosting;

/// <summary>
/// Lets the settings file fail loudly at start-up but not on a reload: a half-written or broken file during a
/// reload is remembered here (its keys would otherwise read as empty, i.e. defaults) so the old policy stays.
/// </summary>
internal sealed class SettingsFileLoad
{
    private string? _reloadError;

    /// <summary>Set once the first load succeeded; from then on, load failures are reload failures.</summary>
    public bool Started { get; set; }

    public void OnLoadException(FileLoadExceptionContext context)
    {
        if (Started)
        {
            Volatile.Write(ref _reloadError, $"cannot read the settings file: {context.Exception.InnerException?.Message ?? context.Exception.Message}".ReplaceLineEndings(" "));
            context.Ignore = true;
        }
    }

    public string? TakeReloadError() => Interlocked.Exchange(ref _reloadError, null);
}
