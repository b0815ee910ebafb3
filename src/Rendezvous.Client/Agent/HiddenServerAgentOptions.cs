using Rendezvous.Client.Internal;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol;

namespace Rendezvous.Client.Agent;

/// <summary>Settings of a <see cref="HiddenServerAgent"/>. Configuration section <c>Rendezvous:HiddenServer</c> when bound from DI.</summary>
public sealed class HiddenServerAgentOptions
{
    /// <summary>The registrar's URL, e.g. <c>https://rendezvous.example.com:8898/</c>. Required.</summary>
    public Uri? RegistrarUrl { get; set; }

    /// <summary>How to trust the registrar's certificate. Defaults to the system trust store.</summary>
    public RegistrarTrust Trust { get; set; } = new();

    /// <summary>This hidden server's UUID, as provisioned with <c>rendezvous users add</c>. Required.</summary>
    public string? Uuid { get; set; }

    /// <summary>
    /// The shared TOTP secret, base32, for the default <see cref="TotpRegistrationCodeSource"/>. Required unless
    /// <see cref="CodeSource"/> is set (then it is not used). Never logged.
    /// </summary>
    public string? Secret { get; set; }

    /// <summary>
    /// Where the agent gets its registration codes, for a registrar that runs a policy of its own. Defaults to
    /// <see langword="null"/>: TOTP codes from <see cref="Secret"/>, <see cref="Step"/> and <see cref="Digits"/>.
    /// With DI, an <see cref="IRegistrationCodeSource"/> registered in the container is used when this is not set.
    /// </summary>
    public IRegistrationCodeSource? CodeSource { get; set; }

    /// <summary>The TOTP time step in seconds, as provisioned. Defaults to 30.</summary>
    public int Step { get; set; } = 30;

    /// <summary>The TOTP code length, as provisioned (6 to 8). Defaults to 6.</summary>
    public int Digits { get; set; } = 6;

    /// <summary>
    /// How many connections to keep parked at the relay, so that several mobile clients can connect at
    /// once. When the relay keeps fewer per UUID, the agent notices and parks as many as it keeps.
    /// Defaults to 2.
    /// </summary>
    public int PoolSize { get; set; } = 2;

    /// <summary>The first retry delay after a failure; it doubles per failure, with jitter. Defaults to 250 ms.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest retry delay. Defaults to 4 seconds, so the agent is back within seconds of a relay restart.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>
    /// How long a parked connection may stay idle before it is replaced by a fresh one, below the idle
    /// timeouts of typical NATs and firewalls. Defaults to 4 minutes.
    /// </summary>
    public TimeSpan ReparkInterval { get; set; } = TimeSpan.FromMinutes(4);

    /// <summary>
    /// How often to look the UUID up while connections are parked, to notice that another hidden server
    /// registered it. Our relay closes a superseded registration's parked connections at once, so the agent
    /// notices there without this; the original node-rendezvous leaves them open, and this check is then
    /// what makes the agent step back. <see cref="Timeout.InfiniteTimeSpan"/> turns it off. Defaults to 60 seconds.
    /// </summary>
    public TimeSpan OwnershipCheckInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The longest wait between registration attempts once the registrar has refused this hidden server's
    /// code <see cref="HiddenServerAgent.RefusalsBeforeBackoff"/> times in a row (a wrong secret or UUID, or a
    /// skewed clock): the waits start at 1 minute (or this, when shorter) and double up to it, so that a
    /// misconfigured agent neither floods the registrar nor uses up the UUID's failure throttle.
    /// Defaults to 5 minutes.
    /// </summary>
    public TimeSpan MaxRefusalBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Idle time before TCP keep-alive probes on parked connections. Defaults to 30 seconds.</summary>
    public TimeSpan KeepAliveTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long connecting to the registrar or relay may take. Defaults to 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Authenticates each mobile client after <c>+OK</c> (e.g. <see cref="TlsHiddenServerAuthenticator"/>). Defaults to none.</summary>
    public RendezvousAuthenticator? Authenticator { get; set; }

    /// <summary>How long authentication may take before the session is dropped. Defaults to 10 seconds.</summary>
    public TimeSpan AuthenticationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Checks the settings and lists every problem in one message, naming each value.</summary>
    /// <exception cref="ArgumentException">A setting is missing or out of range.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        OptionChecks.CheckRegistrar(RegistrarUrl, Trust, errors);

        if (!UuidText.TryNormalize(Uuid, out _))
        {
            errors.Add($"Uuid is '{Uuid}'; it must be a UUID such as 6f1c2a9e-0b7d-4c1e-9a55-3f0e8d2b1c4a.");
        }

        if (CodeSource is null && !TryDecodeSecret(Secret, out _))
        {
            errors.Add(Secret is null
                ? "Secret is not set; set the base32 TOTP secret provisioned on the registrar, or a CodeSource for a registrar with another policy."
                : "Secret is not valid base32 of at least 10 bytes (80 bits).");
        }

        if (Step is < 1 or > 300)
        {
            errors.Add($"Step is {Step}; it must be between 1 and 300 seconds.");
        }

        if (Digits is < 6 or > 8)
        {
            errors.Add($"Digits is {Digits}; it must be between 6 and 8.");
        }

        if (PoolSize is < 1 or > 64)
        {
            errors.Add($"PoolSize is {PoolSize}; it must be between 1 and 64.");
        }

        if (InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff)
        {
            errors.Add($"InitialBackoff ({InitialBackoff}) must be positive and at most MaxBackoff ({MaxBackoff}).");
        }

        if (ReparkInterval < TimeSpan.FromSeconds(1) || KeepAliveTime < TimeSpan.FromSeconds(1) || ConnectTimeout <= TimeSpan.Zero || AuthenticationTimeout <= TimeSpan.Zero)
        {
            errors.Add("ReparkInterval and KeepAliveTime must be at least 1 second; ConnectTimeout and AuthenticationTimeout must be positive.");
        }

        if (OwnershipCheckInterval != Timeout.InfiniteTimeSpan && (OwnershipCheckInterval < TimeSpan.FromSeconds(1) || OwnershipCheckInterval > TimeSpan.FromDays(1)))
        {
            errors.Add($"OwnershipCheckInterval is {OwnershipCheckInterval}; it must be from 1 second to 1 day, or Timeout.InfiniteTimeSpan (-00:00:00.001) to turn the check off.");
        }

        if (MaxRefusalBackoff < TimeSpan.FromSeconds(1) || MaxRefusalBackoff > TimeSpan.FromDays(1))
        {
            errors.Add($"MaxRefusalBackoff is {MaxRefusalBackoff}; it must be from 1 second to 1 day.");
        }

        OptionChecks.ThrowIfAny(errors);
    }

    internal static bool TryDecodeSecret(string? secret, out byte[] bytes)
    {
        var valid = Base32Text.TryDecode(secret, 10, out var decoded);
        bytes = decoded ?? [];
        return valid;
    }
}
