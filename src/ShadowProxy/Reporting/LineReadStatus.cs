namespace ShadowProxy.Reporting;

/// <summary>What <see cref="LogLineReader.Read"/> found.</summary>
internal enum LineReadStatus
{
    /// <summary>A whole line, without its line ending.</summary>
    Line,

    /// <summary>A line longer than the reader's buffer: it was skipped, and counts as malformed.</summary>
    TooLong,

    /// <summary>No more input.</summary>
    End,
}
