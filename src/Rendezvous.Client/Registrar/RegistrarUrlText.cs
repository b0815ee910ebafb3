using System.Diagnostics.CodeAnalysis;

namespace Rendezvous.Client.Registrar;

/// <summary>
/// What counts as a registrar URL where a person types one (a command-line flag, a config file's
/// <c>registrarUrl</c>): only an absolute https:// URL with a host, since registration codes and cookies go there
/// and the registrar's certificate must be checked before they are sent.
/// </summary>
public static class RegistrarUrlText
{
    /// <summary>Parses a registrar URL.</summary>
    /// <param name="text">The URL as given; surrounding white space is ignored.</param>
    /// <param name="url">The URL, when accepted.</param>
    /// <param name="problem">
    /// When refused: what the value is and what is accepted, without a final full stop, to follow
    /// <c>"--flag 'VALUE' is "</c>.
    /// </param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is an https:// URL with a host.</returns>
    public static bool TryParse(string? text, [NotNullWhen(true)] out Uri? url, [NotNullWhen(false)] out string? problem)
    {
        if (!Uri.TryCreate(text?.Trim(), UriKind.Absolute, out url) || string.IsNullOrEmpty(url.Host)
            || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
        {
            url = null;
            problem = "not an https:// URL; expected e.g. https://rendezvous.example.com:8898/";
            return false;
        }

        if (url.Scheme != Uri.UriSchemeHttps)
        {
            url = null;
            problem = "http://, but https:// is required: the registrar's certificate must be checked before TOTP codes and cookies are sent to it; "
                + "give https://HOST:PORT/ (the registrar's port is 8898 by default)";
            return false;
        }

        problem = null;
        return true;
    }
}
