using Rendezvous.Client.Registrar;

namespace Rendezvous.Client.Internal;

/// <summary>Checks shared by the agent's and the connector's options.</summary>
internal static class OptionChecks
{
    /// <summary>Adds a message for a missing or non-HTTPS registrar URL and for bad trust settings.</summary>
    public static void CheckRegistrar(Uri? registrarUrl, RegistrarTrust trust, List<string> errors)
    {
        if (registrarUrl is null || (registrarUrl.Scheme != Uri.UriSchemeHttps && registrarUrl.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"RegistrarUrl is '{registrarUrl}'; it must be an https:// URL.");
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
