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

    /// <summary>The most registrar URLs one agent or connector takes.</summary>
    public const int MaxRegistrars = 8;

    /// <summary>
    /// The registrars to use, in order: <paramref name="registrarUrl"/> first when set, then <paramref name="more"/>,
    /// each once.
    /// </summary>
    public static IReadOnlyList<Uri> Registrars(Uri? registrarUrl, IEnumerable<Uri>? more)
    {
        var all = new List<Uri>();
        foreach (var url in (registrarUrl is null ? [] : new[] { registrarUrl }).Concat(more ?? []))
        {
            if (url is not null && !all.Contains(url))
            {
                all.Add(url);
            }
        }

        return all;
    }

    /// <summary>
    /// Adds a message for a missing registrar, a registrar URL that is not https://, too many of them, and bad trust
    /// settings: <paramref name="registrarUrl"/> and <paramref name="more"/> together name the registrars.
    /// </summary>
    public static void CheckRegistrars(Uri? registrarUrl, IList<Uri>? more, RegistrarTrust trust, List<string> errors)
    {
        if (more is null || more.Count == 0 || registrarUrl is not null)
        {
            CheckRegistrar(registrarUrl, trust, errors);
        }
        else
        {
            CheckRegistrar(more[0], trust, errors);
        }

        if (more is null)
        {
            return;
        }

        foreach (var url in more)
        {
            if (RegistrarUrlProblem(url) is { } problem)
            {
                errors.Add($"RegistrarUrls: {problem}");
            }
        }

        if (Registrars(registrarUrl, more).Count > MaxRegistrars)
        {
            errors.Add($"RegistrarUrl and RegistrarUrls name {Registrars(registrarUrl, more).Count} registrars; at most {MaxRegistrars} are used.");
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
