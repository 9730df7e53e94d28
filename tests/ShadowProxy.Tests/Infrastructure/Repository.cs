namespace ShadowProxy.Tests.Infrastructure;

/// <summary>The checkout the tests were built from: where the files they read or run (deploy/...) are.</summary>
internal static class Repository
{
    /// <summary>The directory that holds ShadowProxy.sln, above the test assembly.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ShadowProxy.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("ShadowProxy.sln not found above " + AppContext.BaseDirectory);
    }
}
