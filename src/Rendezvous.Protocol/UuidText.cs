using System.Diagnostics.CodeAnalysis;

namespace Rendezvous.Protocol;

/// <summary>
/// What counts as a hidden server's UUID, everywhere: RFC 4122 text (<c>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx</c>)
/// in any letter case, optionally in braces or after <c>urn:uuid:</c>. Its canonical form is lower case without
/// braces, so that one UUID is one registration however it is spelt.
/// </summary>
public static class UuidText
{
    private const string UrnPrefix = "urn:uuid:";

    /// <summary>Parses a UUID and returns its canonical form.</summary>
    /// <param name="text">The text to parse (surrounding white space is ignored).</param>
    /// <param name="uuid">The canonical lower-case form, when the text is a UUID.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is a UUID.</returns>
    public static bool TryNormalize(string? text, [NotNullWhen(true)] out string? uuid)
    {
        uuid = null;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        if (span.StartsWith(UrnPrefix, StringComparison.OrdinalIgnoreCase))
        {
            span = span[UrnPrefix.Length..];
        }

        if (!Guid.TryParseExact(span, "D", out var guid) && !Guid.TryParseExact(span, "B", out guid))
        {
            return false;
        }

        uuid = guid.ToString("D");
        return true;
    }
}
