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

    /// <summary>The settings file's provider, to tell a reload of a missing file (which it reads as no keys) from a real one.</summary>
    public IConfigurationProvider? Provider { get; set; }

    /// <summary>
    /// Why the reload just done must not be applied, or null. A file that is missing on a reload (an editor that
    /// renames the old one away before writing the new one, a delete) is read as empty, with no complaint: applied,
    /// its keys would all fall back to their defaults (mirror everything). A reload that found no keys is refused too.
    /// </summary>
    public string? TakeReloadError()
    {
        string? error = Interlocked.Exchange(ref _reloadError, null);
        if (error is null && Provider is not null && !Provider.GetChildKeys([], null).Any())
        {
            error = "cannot read the settings file: it is missing or has no keys";
        }

        return error;
    }
}
