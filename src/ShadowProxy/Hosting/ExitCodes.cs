namespace ShadowProxy.Hosting;

/// <summary>The process's exit codes.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>It could not run: the listen address is taken, a file cannot be written, …</summary>
    public const int Failure = 1;

    /// <summary>A bad option or setting: nothing was started.</summary>
    public const int Usage = 2;
}
