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

    /// <param name="path">The request-target before '?': origin-form ("/health") or absolute-form ("http://shop/health").</param>
    public bool Contains(ReadOnlySpan<char> path) => _paths.Count > 0 && _lookup.Contains(OriginPath(path));

    /// <summary>
    /// The path an absolute-form target names (RFC 9112 §3.2.2): after the scheme and authority, "/" when empty;
    /// any other target as it is.
    /// </summary>
    private static ReadOnlySpan<char> OriginPath(ReadOnlySpan<char> path)
    {
        int authority = path.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? 7
            : path.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? 8
            : -1;
        if (authority < 0)
        {
            return path;
        }

        int slash = path[authority..].IndexOf('/');
        return slash < 0 ? "/" : path[(authority + slash)..];
    }
}
