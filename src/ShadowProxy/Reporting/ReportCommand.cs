using System.Globalization;
using ShadowProxy.Hosting;

namespace ShadowProxy.Reporting;

/// <summary>
/// <c>ShadowProxy report [FILE...] [--html FILE]</c>: reads request lines (text or json, decided per line) from files
/// or stdin in one streaming pass and prints the summary to stdout; progress and errors go to stderr.
/// </summary>
internal static class ReportCommand
{
    public const int DefaultTop = 10;
    public const int DefaultMinRequests = 5;
    private const string Stdin = "-";

    public static int Run(
        IReadOnlyList<string> files,
        string? html,
        string? top,
        string? minRequests,
        TextWriter output,
        TextWriter errors,
        long progressInterval = ReportProgress.DefaultInterval)
    {
        if (!TryParseCount(top, DefaultTop, 1000, "--top", errors, out int topRows)
            || !TryParseCount(minRequests, DefaultMinRequests, int.MaxValue, "--min-requests", errors, out int minCount))
        {
            return ExitCodes.Usage;
        }

        string[] sources = files.Count == 0 ? [Stdin] : [.. files];
        foreach (string source in sources)
        {
            if (source != Stdin && !File.Exists(source))
            {
                // The FILE argument takes any word, so a mistyped option arrives here as a file name.
                errors.WriteLine(Directory.Exists(source)
                    ? $"ShadowProxy: report: {OneLine.Quote(source)} is a directory, not a log file"
                    : source.StartsWith('-')
                    ? $"ShadowProxy: report: unknown option {OneLine.Quote(source)} (options: --html, --top, --min-requests; a log file whose name starts with '-' is ./{source})"
                    : $"ShadowProxy: report: no such file: {OneLine.Quote(source)}");
                return ExitCodes.Usage;
            }
        }

        // Open the page before reading a gigabyte, so a wrong path fails at once.
        FileStream? page = null;
        if (html is not null)
        {
            if (RefusedPage(html, sources) is { } refusal)
            {
                errors.WriteLine($"ShadowProxy: report: --html {OneLine.Quote(html)} {refusal}");
                return ExitCodes.Usage;
            }

            try
            {
                page = new FileStream(html, FileMode.Create, FileAccess.Write);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                errors.WriteLine($"ShadowProxy: report: cannot write --html {OneLine.Quote(html)}: {OneLine.Text(ex.Message)}");
                return ExitCodes.Usage;
            }
        }

        using (page)
        {
            var aggregate = new ReportAggregator();
            long? totalBytes = sources.Contains(Stdin) ? null : sources.Sum(source => new FileInfo(source).Length);
            var progress = new ReportProgress(errors, !Console.IsErrorRedirected && ReferenceEquals(errors, Console.Error), totalBytes, progressInterval);
            var scratch = new byte[LogLineReader.DefaultBufferBytes];
            long bytesBefore = 0;
            long lines = 0;
            foreach (string source in sources)
            {
                string name = source == Stdin ? "stdin" : source;
                if (source == Stdin && !Console.IsInputRedirected)
                {
                    errors.WriteLine("ShadowProxy: report: reading request lines from the terminal; end with Ctrl+D, or give a FILE");
                }

                try
                {
                    using Stream input = source == Stdin
                        ? Console.OpenStandardInput()
                        : new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 1, FileOptions.SequentialScan);
                    var reader = new LogLineReader(input);
                    while (reader.Read(out ReadOnlySpan<byte> line) is var status && status != LineReadStatus.End)
                    {
                        lines++;
                        if (status == LineReadStatus.TooLong)
                        {
                            aggregate.AddMalformed(name, reader.LineNumber, default);
                        }
                        else if (ReportLineParser.TryParse(line, scratch, out ReportEntry entry))
                        {
                            aggregate.Add(entry);
                        }
                        else if (!line.Trim((byte)' ').IsEmpty)
                        {
                            aggregate.AddMalformed(name, reader.LineNumber, line);
                        }

                        progress.Update(bytesBefore + reader.Position, lines);
                    }

                    bytesBefore += reader.BytesRead;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    progress.Finish();
                    errors.WriteLine($"ShadowProxy: report: cannot read {OneLine.Quote(name)}: {OneLine.Text(ex.Message)}");
                    return ExitCodes.Failure;
                }
            }

            progress.Finish();
            var summary = new ReportSummary(aggregate, [.. sources.Select(source => source == Stdin ? "stdin" : source)], topRows, minCount);
            bool written = TryWriteText(summary, output, errors);
            if (page is not null)
            {
                using var writer = new StreamWriter(page);
                HtmlReportRenderer.Write(summary, writer);
                errors.WriteLine($"ShadowProxy: report: wrote {html}");
            }

            return written ? ExitCodes.Success : ExitCodes.Failure;
        }
    }

    /// <summary>
    /// The report on stdout; a stdout that cannot take it (closed: Console's stream says UnauthorizedAccessException
    /// for EBADF) is one line on stderr, not an unhandled exception and its stack.
    /// </summary>
    private static bool TryWriteText(ReportSummary summary, TextWriter output, TextWriter errors)
    {
        try
        {
            TextReportRenderer.Write(summary, output);
            output.Flush();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.WriteLine($"ShadowProxy: report: cannot write the report to stdout: {OneLine.Text(ex.GetBaseException().Message)}");
            return false;
        }
    }

    /// <summary>
    /// Why the page must not be written at <paramref name="html"/>, or null. Opening it truncates it, before anything
    /// is read: 'report x.log --html x.log' emptied the log it was to read, and 'report --html requests.log' (the log
    /// taken for the page's name, stdin read instead) emptied the log. A file that exists is overwritten only if it is
    /// empty or an HTML page, such as the previous run's.
    /// </summary>
    private static string? RefusedPage(string html, string[] sources)
    {
        try
        {
            string page = Path.GetFullPath(html);
            if (sources.Any(source => source != Stdin && Path.GetFullPath(source) == page))
            {
                return "is also a log to read: give the page another name";
            }

            // Nothing to lose in an empty file; and a pipe, a FIFO or a terminal (--html /dev/stdout) has no size, and a
            // look inside would wait for bytes that only this process could write: the page is written without a look.
            // The size is the link's target's (FileInfo gives a symbolic link's own: /dev/stdout's is 15).
            FileSystemInfo file = File.ResolveLinkTarget(html, returnFinalTarget: true) ?? new FileInfo(html);
            if (file is not FileInfo { Exists: true, Length: > 0 })
            {
                return null;
            }

            using var existing = new FileStream(html, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            Span<byte> bytes = stackalloc byte[32];
            string start = System.Text.Encoding.UTF8.GetString(bytes[..existing.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false)])
                .TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
            return start.Length == 0   // blanks only
                || start.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase)
                || start.StartsWith("<html", StringComparison.OrdinalIgnoreCase)
                ? null
                : "exists and is not an HTML page: not overwriting it (give the page a new name, or remove the file)";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;   // no such file (or none that can be read): opening it for writing says what is wrong, if anything
        }
    }

    private static bool TryParseCount(string? text, int fallback, int max, string option, TextWriter errors, out int value)
    {
        value = fallback;
        if (text is null)
        {
            return true;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value >= 1 && value <= max)
        {
            return true;
        }

        errors.WriteLine($"ShadowProxy: report: {option}: {OneLine.Quote(text)} is not a whole number from 1 to {max}");
        return false;
    }
}
