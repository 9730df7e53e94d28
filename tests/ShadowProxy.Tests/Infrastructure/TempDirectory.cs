namespace ShadowProxy.Tests.Infrastructure;

/// <summary>A fresh directory under the system temp path, deleted with everything in it on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("shadowproxy-test-").FullName;
    }

    public string Path { get; }

    /// <summary>Writes <paramref name="lines"/>, each ended by '\n', to a file in the directory and returns its path.</summary>
    public string WriteLines(string name, params IEnumerable<string> lines)
    {
        string file = System.IO.Path.Combine(Path, name);
        System.IO.File.WriteAllText(file, string.Concat(lines.Select(line => line + "\n")));
        return file;
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
