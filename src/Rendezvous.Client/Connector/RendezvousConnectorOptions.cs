using Rendezvous.Client.Internal;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;

namespace Rendezvous.Client.Connector;

/// <summary>Settings of a <see cref="RendezvousConnector"/> (the mobile-client side).</summary>
public sealed class RendezvousConnectorOptions
{
    /// <summary>The most <see cref="NotReadyRetries"/> accepted.</summary>
    private const int MaxNotReadyRetries = 20;

    /// <summary>The longest <see cref="NotReadyRetryBudget"/> accepted.</summary>
    private static readonly TimeSpan MaxNotReadyRetryBudget = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The registrar's URL, e.g. <c>https://rendezvous.example.com:8898/</c>. Required unless <see cref="RegistrarUrls"/>
    /// names at least one; it is tried first.
    /// </summary>
    public Uri? RegistrarUrl { get; set; }

    /// <summary>
    /// Further registrars of the same service (the nodes of a cluster, which share one certificate), tried in order after
    /// <see cref="RegistrarUrl"/> when a registrar is down: not reachable, no answer in time, or 5xx such as 503. The one
    /// that answered is used until it is down in turn. At most 8 in all. Defaults to none.
    /// </summary>
    public IList<Uri> RegistrarUrls { get; set; } = new List<Uri>();

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

    /// <summary>
    /// How many more times to look the UUID up and connect when the relay answers <c>-ERR not ready</c>:
    /// the hidden server is registered but all its parked connections are taken for the moment, which is
    /// common with a relay that does not wait for the hidden server to park again (the original
    /// node-rendezvous) and a hidden server that parks one connection. The waits between tries start at
    /// 250 ms, double up to 2 s and are drawn at random from the upper half of that (so clients refused
    /// together do not come back together). 0 gives up at the first <c>not ready</c>. Defaults to 5; at most 20.
    /// </summary>
    public int NotReadyRetries { get; set; } = 5;

    /// <summary>
    /// The time the retries after <c>-ERR not ready</c> may take, counted from the first try: no retry
    /// starts whose wait would end later. Our relay already waits its grace time (5 s by default) for the
    /// hidden server before it answers <c>not ready</c>, so against it the default allows about one retry;
    /// against a relay that answers at once, up to <see cref="NotReadyRetries"/>. Defaults to 5 seconds;
    /// at most 1 minute.
    /// </summary>
    public TimeSpan NotReadyRetryBudget { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Checks the settings and lists every problem in one message.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        OptionChecks.CheckRegistrars(RegistrarUrl, RegistrarUrls, Trust, errors);

        if (ConnectTimeout <= TimeSpan.Zero || PairingTimeout <= TimeSpan.Zero || AuthenticationTimeout <= TimeSpan.Zero)
        {
            errors.Add("ConnectTimeout, PairingTimeout and AuthenticationTimeout must be positive.");
        }

        if (NotReadyRetries is < 0 or > MaxNotReadyRetries)
        {
            errors.Add($"NotReadyRetries is {NotReadyRetries}; it must be between 0 and {MaxNotReadyRetries}.");
        }

        if (NotReadyRetryBudget < TimeSpan.Zero || NotReadyRetryBudget > MaxNotReadyRetryBudget)
        {
            errors.Add($"NotReadyRetryBudget is {NotReadyRetryBudget}; it must be between 00:00:00 and {MaxNotReadyRetryBudget}.");
        }

        OptionChecks.ThrowIfAny(errors);
    }

    /// <summary>The registrars in the order they are tried.</summary>
    internal IReadOnlyList<Uri> AllRegistrarUrls() => OptionChecks.Registrars(RegistrarUrl, RegistrarUrls);
}
