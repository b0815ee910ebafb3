using Rendezvous.Client.Registrar;

namespace Rendezvous.Client.Internal;

/// <summary>Checks shared by the agent's and the connector's options.</summary>
internal static class OptionChecks
{
    /// <summary>
    /// What is wrong with a registrar URL, or <see langword="null"/>: it must be an absolute https:// URL, since
    /// TOTP codes and cookies go to it and its certificate must be checked first (security model point 1).
    /// </summary>
    public static string? RegistrarUrlProblem(Uri? registrarUrl) => registrarUrl switch
    {
        null => "The registrar URL is missing; give an https:// URL such as https://rendezvous.example.com:8898/.",
        { IsAbsoluteUri: false } => $"The registrar URL '{registrarUrl}' is not an absolute URL; give an https:// URL such as https://rendezvous.example.com:8898/.",
        _ when registrarUrl.Scheme != Uri.UriSchemeHttps =>
            $"The registrar URL '{registrarUrl}' is not https://; https:// is required, so that the registrar's certificate is checked before codes and cookies are sent.",
        _ => null,
    };

    /// <summary>Adds a message for a missing or non-HTTPS registrar URL and for bad trust settings.</summary>
    public static void CheckRegistrar(Uri? registrarUrl, RegistrarTrust trust, List<string> errors)
    {
        if (RegistrarUrlProblem(registrarUrl) is { } problem)
        {
            errors.Add($"RegistrarUrl: {problem}");
        }

        try
        {
            trust.Validate();
        }
        catch (ArgumentException ex)
        {
            errors.Add(ex.Message);
        }
    }

    /// <summary>Throws one exception listing every problem, when there are any.</summary>
    public static void ThrowIfAny(List<string> errors)
    {
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors));
        }
    }
}
