using System.Text;

namespace ShadowProxy.Reporting;

/// <summary>
/// Folds request lines into everything the report shows, in memory that does not grow with the log: exact counters
/// and a status matrix (at most a few hundred status pairs; a skipped shadow copy has a column of its own), three fine
/// histograms for the whole log, and three bounded <see cref="PathTable{T}"/>s (all requests, shadow failures, body
/// mismatches), each ranked by its own count.
/// </summary>
internal sealed class ReportAggregator
{
    /// <summary>Paths kept per table after pruning; with per-path histograms of a few KB each, tens of MB at most.</summary>
    public const int DefaultPathCapacity = 1000;

    private const int MalformedExamples = 3;
    private const int MalformedExampleChars = 120;

    private readonly Dictionary<(int Production, int Shadow), long> _matrix = [];
    private readonly List<string> _malformedExamples = [];

    public ReportAggregator(int pathCapacity = DefaultPathCapacity)
    {
        Paths = new PathTable<PathStats>(pathCapacity, () => new PathStats());
        ShadowFailedPaths = new PathTable<PathCounter>(pathCapacity, () => new PathCounter());
        BodyMismatchPaths = new PathTable<PathCounter>(pathCapacity, () => new PathCounter());
    }

    public long Requests { get; private set; }

    public long TextLines { get; private set; }

    public long JsonLines { get; private set; }

    public long MalformedLines { get; private set; }

    /// <summary>The first few malformed lines, as "SOURCE:LINE: text".</summary>
    public IReadOnlyList<string> MalformedExampleLines => _malformedExamples;

    /// <summary>The shadow got no copy on purpose (sampling, filters, overload): not counted as a shadow failure.</summary>
    public long ShadowSkipped { get; private set; }

    /// <summary>Production answered 2xx/3xx and the shadow did not (another status, or none at all).</summary>
    public long ShadowFailed { get; private set; }

    /// <summary>Lines that say whether the bodies matched.</summary>
    public long BodyCompared { get; private set; }

    public long BodyMismatches { get; private set; }

    public LatencyHistogram Production { get; } = new(LatencyHistogram.FineBits);

    public LatencyHistogram Shadow { get; } = new(LatencyHistogram.FineBits);

    public LatencyHistogram Delta { get; } = new(LatencyHistogram.FineBits);

    public PathTable<PathStats> Paths { get; }

    public PathTable<PathCounter> ShadowFailedPaths { get; }

    public PathTable<PathCounter> BodyMismatchPaths { get; }

    /// <summary>Status pairs by count, most first.</summary>
    public IEnumerable<StatusPair> Matrix => _matrix
        .Select(pair => new StatusPair(pair.Key.Production, pair.Key.Shadow, pair.Value))
        .OrderByDescending(pair => pair.Count)
        .ThenBy(pair => pair.Production)
        .ThenBy(pair => pair.Shadow);

    public void Add(in ReportEntry entry)
    {
        Requests++;
        if (entry.IsJson)
        {
            JsonLines++;
        }
        else
        {
            TextLines++;
        }

        // A skipped copy has no status either, but gets its own column: it is not a shadow that failed to answer.
        (int Production, int Shadow) key = (entry.ProductionStatus, entry.ShadowSkipped ? StatusPair.Skipped : entry.ShadowStatus);
        _matrix[key] = _matrix.GetValueOrDefault(key) + 1;

        ReadOnlySpan<byte> path = PathOf(entry.Url);
        Paths.GetOrAdd(path).Add(entry);
        switch (StatusPair.KindOf(key.Production, key.Shadow))
        {
            case StatusPairKind.ShadowSkipped:
                ShadowSkipped++;
                break;
            case StatusPairKind.ShadowFailed:
                ShadowFailed++;
                ShadowFailedPaths.GetOrAdd(path).Count++;
                break;
        }

        // Bodies count only where the statuses are the same and neither side failed (what the json line's diff "body"
        // says): a 500 page is not the 200's as a matter of course, and that line is in the matrix already; a body
        // read whole before its side failed (a copy abandoned for an overflow after the answer) is among the failures.
        bool statusesDiffer = entry.ProductionStatus > 0 && entry.ShadowStatus > 0 && entry.ProductionStatus != entry.ShadowStatus;
        if (entry.BodyMatch is { } match && !statusesDiffer && !entry.SideFailed)
        {
            BodyCompared++;
            if (!match)
            {
                BodyMismatches++;
                BodyMismatchPaths.GetOrAdd(path).Count++;
            }
        }

        LatencyHistogram.AddTimes(entry, Production, Shadow, Delta);
    }

    public void AddMalformed(string source, long lineNumber, ReadOnlySpan<byte> line)
    {
        MalformedLines++;
        if (_malformedExamples.Count < MalformedExamples)
        {
            // Control characters from a binary file would drive the terminal: show them as '?'.
            string text = ReportFormat.Printable(Encoding.UTF8.GetString(line[..Math.Min(line.Length, MalformedExampleChars)]));
            string shown = line.Length > MalformedExampleChars ? text + "…" : text;
            _malformedExamples.Add($"{source}:{lineNumber}: {(line.IsEmpty ? "(longer than the line buffer)" : shown)}");
        }
    }

    /// <summary>The URL before '?': what the report groups by.</summary>
    public static ReadOnlySpan<byte> PathOf(ReadOnlySpan<byte> url)
    {
        int query = url.IndexOf((byte)'?');
        return query < 0 ? url : url[..query];
    }
}
