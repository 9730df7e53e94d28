namespace ShadowProxy.Reporting;

/// <summary>
/// The production × shadow table as both renderers print it, built once: the rows and columns in display order,
/// each cell's count and each row's total.
/// </summary>
internal sealed class StatusMatrix
{
    private readonly Dictionary<(int Production, int Shadow), long> _cells;
    private readonly Dictionary<int, long> _rowTotals;

    /// <param name="pairs">The non-empty cells, most requests first (the order the chart keeps).</param>
    public StatusMatrix(IEnumerable<StatusPair> pairs)
    {
        Pairs = [.. pairs];
        _cells = Pairs.ToDictionary(pair => (pair.Production, pair.Shadow), pair => pair.Count);
        _rowTotals = Pairs.GroupBy(pair => pair.Production).ToDictionary(row => row.Key, row => row.Sum(pair => pair.Count));
        Rows = InDisplayOrder(Pairs.Select(pair => pair.Production));
        Columns = InDisplayOrder(Pairs.Select(pair => pair.Shadow));
    }

    /// <summary>The non-empty cells, most requests first.</summary>
    public IReadOnlyList<StatusPair> Pairs { get; }

    /// <summary>Production statuses, ascending, '-' last.</summary>
    public IReadOnlyList<int> Rows { get; }

    /// <summary>Shadow statuses, ascending, then '-', then skipped.</summary>
    public IReadOnlyList<int> Columns { get; }

    public long Count(int production, int shadow) => _cells.GetValueOrDefault((production, shadow));

    public long RowTotal(int production) => _rowTotals.GetValueOrDefault(production);

    private static List<int> InDisplayOrder(IEnumerable<int> statuses) =>
        [.. statuses.Distinct().OrderBy(status => status switch
        {
            StatusPair.NoStatus => int.MaxValue - 1,
            StatusPair.Skipped => int.MaxValue,
            _ => status,
        })];
}
