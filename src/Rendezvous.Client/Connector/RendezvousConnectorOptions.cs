using Rendezvous.Client.Internal;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;

namespace Rendezvous.Client.Connector;

/// <summary>Settings of a <see cref="RendezvousConnector"/> (the mobile-client side).</summary>
public sealed class RendezvousConnectorOptions
{
    /// <summary>The registrar's URL, e.g. <c>https://rendezvous.example.com:8898/</c>. Required.</summary>
    public Uri? RegistrarUrl { get; set; }

    /// <summary>How to trust the registrar's certificate. Defaults to the system trust store.</summary>
    public RegistrarTrust Trust { get; set; } = new();

    /// <summary>How long connecting to the registrar or the relay may take. Defaults to 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long to wait for <c>+OK</c> after sending the <c>I</c> line; the relay itself waits up to its
    /// grace time (5 s by default) for the hidden server. Defaults to 15 seconds.
    /// </summary>
    public TimeSpan PairingTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Authenticates the hidden server after <c>+OK</c> (e.g. <see cref="TlsMobileClientAuthenticator"/>). Defaults to none.</summary>
    public RendezvousAuthenticator? Authenticator { get; set; }

    /// <summary>How long authentication may take. Defaults to 10 seconds.</summary>
    public TimeSpan AuthenticationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks the settings and lists every problem in one message.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        OptionChecks.CheckRegistrar(RegistrarUrl, Trust, errors);

        if (ConnectTimeout <= TimeSpan.Zero || PairingTimeout <= TimeSpan.Zero || AuthenticationTimeout <= TimeSpan.Zero)
        {
            errors.Add("ConnectTimeout, PairingTimeout and AuthenticationTimeout must be positive.");
        }

        OptionChecks.ThrowIfAny(errors);
    }
}
