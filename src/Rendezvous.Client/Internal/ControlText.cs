using System.Globalization;
using System.Text;

namespace Rendezvous.Client.Internal;

/// <summary>
/// Text from a file or a database made safe to print on one line. Also compiled into the rendezvous tool
/// (linked source), which shows what it imports the same way.
/// </summary>
internal static class ControlText
{
    /// <summary>
    /// Every control character (a line end, a NUL, an escape sequence's ESC) becomes <c>\xNN</c>, so what is
    /// shown cannot break the line or drive the terminal.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <returns>The text with its control characters escaped.</returns>
    public static string Escape(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var shown = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (char.IsControl(c))
            {
                shown.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                shown.Append(c);
            }
        }

        return shown.ToString();
    }
}
