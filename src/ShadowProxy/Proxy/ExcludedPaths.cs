namespace ShadowProxy.Proxy;

/// <summary>The --exclude paths, looked up by span so that checking a request allocates nothing.</summary>
internal sealed class ExcludedPaths
{
    private readonly HashSet<string> _paths;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public ExcludedPaths(IEnumerable<string> paths)
    {
        _paths = new HashSet<string>(paths, StringComparer.Ordinal);
        _lookup = _paths.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static ExcludedPaths None { get; } = new([]);

    public int Count => _paths.Count;

    public bool Contains(ReadOnlySpan<char> path) => _paths.Count > 0 && _lookup.Contains(path);
}
