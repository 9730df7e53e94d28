namespace ShadowProxy.Hosting;

/// <summary>Writes what System.CommandLine printed for --help or --version (nothing, for a command that ran).</summary>
internal static class HelpOutput
{
    /// <returns>False when stdout could not take it (closed: Console's stream says UnauthorizedAccessException for
    /// EBADF); one line on stderr then says so, as <c>report</c> does.</returns>
    public static bool Write(string text, TextWriter output, TextWriter errors)
    {
        if (text.Length == 0)
        {
            return true;
        }

        try
        {
            output.Write(text);
            output.Flush();
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.WriteLine($"ShadowProxy: cannot write to stdout: {OneLine.Text(ex.GetBaseException().Message)}");   // EBADF's own words
            return false;
        }
    }
}
