using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

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

    /// <summary>
    /// Calls <paramref name="report"/> with why, each time the settings file changes into one that exists but cannot be
    /// opened (a save by another user with mode 0600). The provider opens the file before its own error handling, so
    /// such a reload throws past <see cref="OnLoadException"/> and never raises the reload token: nothing else hears of it.
    /// </summary>
    /// <returns>The watch, to dispose; null without a settings file provider.</returns>
    public IDisposable? WatchUnopenable(Action<string> report)
    {
        if (Provider is not FileConfigurationProvider { Source: { FileProvider: { } files, Path: { } path } })
        {
            return null;
        }

        // No wait, unlike the provider's reload: whether the file opens does not depend on a write being finished, and
        // this may run on the same thread as that reload, ahead of it, which a wait would hold back.
        return ChangeToken.OnChange(() => files.Watch(path), () =>
        {
            IFileInfo file = files.GetFileInfo(path);
            if (!file.Exists || file.PhysicalPath is not { } physicalPath)
            {
                return;   // a missing file is the reload's to refuse
            }

            try
            {
                using var opened = new FileStream(physicalPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && ex is not (FileNotFoundException or DirectoryNotFoundException))
            {
                report($"cannot read the settings file: {ex.Message}".ReplaceLineEndings(" "));
            }
        });
    }
}
