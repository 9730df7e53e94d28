namespace ShadowProxy.Reporting;

/// <summary>
/// "report: 1.2 GB of 4.0 GB (30%), 8,123,456 lines" on stderr each time another <c>interval</c> bytes have been
/// read, so a small log prints nothing and a large one shows it is moving. On a terminal the line rewrites itself.
/// </summary>
internal sealed class ReportProgress(TextWriter output, bool isTerminal, long? totalBytes, long interval = ReportProgress.DefaultInterval)
{
    /// <summary>At a few hundred MB/s, a line every fraction of a second to a few seconds.</summary>
    public const long DefaultInterval = 64L << 20;

    private readonly long _interval = interval;
    private long _next = interval;
    private bool _printed;

    public void Update(long bytesRead, long lines)
    {
        if (bytesRead < _next)
        {
            return;
        }

        _next = ((bytesRead / _interval) + 1) * _interval;
        string of = totalBytes is > 0 and { } total
            ? $" of {ReportFormat.Bytes(total)} ({ReportFormat.Percent(bytesRead, total)})"
            : "";
        string line = $"report: {ReportFormat.Bytes(bytesRead)}{of}, {ReportFormat.Count(lines)} lines";
        if (isTerminal)
        {
            output.Write($"\r{line}   ");
        }
        else
        {
            output.WriteLine(line);
        }

        output.Flush();
        _printed = true;
    }

    /// <summary>Ends the rewritten terminal line, so whatever comes next starts on its own.</summary>
    public void Finish()
    {
        if (_printed && isTerminal)
        {
            output.WriteLine();
        }
    }
}
