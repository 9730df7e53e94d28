using System.Globalization;
using System.Text;

namespace ShadowProxy.Hosting;

/// <summary>
/// Keeps an error one line when it echoes what the user typed: a value or a path may hold a line break or another
/// control character, which would otherwise split the message (and anything reading stderr line by line).
/// </summary>
internal static class OneLine
{
    /// <summary>The value in single quotes, its control characters written as escapes (\n, \r, \t, \u0001).</summary>
    public static string Quote(string value)
    {
        if (!value.Any(char.IsControl))
        {
            return $"'{value}'";
        }

        var quoted = new StringBuilder(value.Length + 8).Append('\'');
        foreach (char c in value)
        {
            _ = c switch
            {
                '\n' => quoted.Append("\\n"),
                '\r' => quoted.Append("\\r"),
                '\t' => quoted.Append("\\t"),
                _ when char.IsControl(c) => quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => quoted.Append(c),
            };
        }

        return quoted.Append('\'').ToString();
    }

    /// <summary>A message (an exception's, which may quote a path) with its control characters as spaces.</summary>
    public static string Text(string message) => ReplaceControls(message, ' ');

    /// <summary>The text with each control character (C0, DEL, C1) replaced; the same string when it has none.</summary>
    public static string ReplaceControls(string text, char replacement) =>
        !text.AsSpan().ContainsAnyInRange('\u0000', '\u001f') && !text.AsSpan().ContainsAnyInRange('\u007f', '\u009f')
            ? text
            : string.Create(text.Length, (text, replacement), static (span, state) =>
            {
                for (int i = 0; i < state.text.Length; i++)
                {
                    span[i] = char.IsControl(state.text[i]) ? state.replacement : state.text[i];
                }
            });
}
