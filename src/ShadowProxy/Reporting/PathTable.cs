using System.Text;

namespace ShadowProxy.Reporting;

/// <summary>
/// Per-path entries in bounded memory. Up to twice <see cref="Capacity"/> paths are held; when one more arrives,
/// the table keeps the <see cref="Capacity"/> busiest and drops the rest (their requests are counted in
/// <see cref="DroppedRequests"/>). A log of a few hundred endpoints is never pruned and every count is exact;
/// a log with an id in the path (/users/1, /users/2, …) stays bounded, and the endpoints that carry most of the
/// traffic stay in the table. A path dropped and seen again starts from zero, so after pruning its count is a lower bound.
/// Lookups decode the UTF-8 path into a reused char buffer and use the dictionary's span lookup: only a new path
/// allocates its string.
/// </summary>
internal sealed class PathTable<T>
    where T : class, ICountedPath
{
    private readonly Dictionary<string, T> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, T>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly Func<T> _create;
    private char[] _chars = new char[256];

    public PathTable(int capacity, Func<T> create)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _create = create;
        _lookup = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>How many paths survive a pruning.</summary>
    public int Capacity { get; }

    public int Count => _entries.Count;

    /// <summary>Requests of paths that were dropped to keep the table bounded.</summary>
    public long DroppedRequests { get; private set; }

    /// <summary>How many times a path was dropped.</summary>
    public long DroppedPaths { get; private set; }

    public T GetOrAdd(ReadOnlySpan<byte> path)
    {
        int maxChars = Encoding.UTF8.GetMaxCharCount(path.Length);
        if (_chars.Length < maxChars)
        {
            _chars = new char[Math.Max(maxChars, _chars.Length * 2)];
        }

        ReadOnlySpan<char> key = _chars.AsSpan(0, Encoding.UTF8.GetChars(path, _chars));
        if (_lookup.TryGetValue(key, out T? existing))
        {
            return existing;
        }

        if (_entries.Count >= 2 * Capacity)
        {
            Prune();
        }

        T created = _create();
        _entries.Add(key.ToString(), created);
        return created;
    }

    /// <summary>The busiest paths, most first; ties by path so the output does not depend on arrival order.</summary>
    public IEnumerable<(string Path, T Entry)> Top(Func<T, long> rank, int count) => _entries
        .Where(pair => rank(pair.Value) > 0)
        .OrderByDescending(pair => rank(pair.Value))
        .ThenBy(pair => pair.Key, StringComparer.Ordinal)
        .Take(count)
        .Select(pair => (pair.Key, pair.Value));

    public IEnumerable<(string Path, T Entry)> All() => _entries.Select(pair => (pair.Key, pair.Value));

    private void Prune()
    {
        KeyValuePair<string, T>[] entries = [.. _entries];
        Array.Sort(entries, (a, b) => b.Value.Count.CompareTo(a.Value.Count));
        foreach (KeyValuePair<string, T> dropped in entries.AsSpan(Capacity))
        {
            _entries.Remove(dropped.Key);
            DroppedRequests += dropped.Value.Count;
            DroppedPaths++;
        }
    }
}
