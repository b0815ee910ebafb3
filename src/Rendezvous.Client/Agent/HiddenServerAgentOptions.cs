using Rendezvous.Client.Internal;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol;

namespace Rendezvous.Client.Agent;

/// <summary>Settings of a <see cref="HiddenServerAgent"/>. Configuration section <c>Rendezvous:HiddenServer</c> when bound from DI.</summary>
public sealed class HiddenServerAgentOptions
{
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

    /// <summary>
    /// The fewest connections the agent keeps parked at the owner relay when it follows the registrar's pool advice (the
    /// extra <c>pool</c> field of a registration answer) or shrinks its pool after a quiet period (1 to 64). Defaults to
    /// <see langword="null"/>: <see cref="PoolSize"/>, so that advice never shrinks the pool below what was configured.
    /// Set it (and <see cref="MaxPoolSize"/>) to let the registrar size the pool: an idle hidden server then holds as few
    /// as this, a busy one up to <see cref="MaxPoolSize"/>.
    /// </summary>
    public int? MinPoolSize { get; set; }

    /// <summary>
    /// The most connections the agent keeps parked at the owner relay when it follows the registrar's pool advice or
    /// grows its pool because whole pools were taken quickly (1 to 64). Defaults to <see langword="null"/>:
    /// <see cref="PoolSize"/>, so that the pool never grows beyond what was configured unless this is raised.
    /// </summary>
    public int? MaxPoolSize { get; set; }

    /// <summary>
    /// When every connection parked at the owner relay was paired within this time, the pool grows by one (up to
    /// <see cref="MaxPoolSize"/>): the next client would have found none. Defaults to 2 seconds.
    /// </summary>
    public TimeSpan PoolGrowthWindow { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// After this long without growing, a pool larger than the advised one (or <see cref="PoolSize"/> without advice)
    /// shrinks by one, at the end of a park; again after as long. Defaults to 1 minute.
    /// </summary>
    public TimeSpan PoolShrinkAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// With a cluster's registration (one that names alternate relays, where the agent parks too): how long the owner
    /// relay may stay unreachable before the agent registers again through a live registrar, to be given a live owner.
    /// Meanwhile its connections parked at the alternates keep serving. Defaults to 3 seconds.
    /// </summary>
    public TimeSpan OwnerRelayLostAfter { get; set; } = TimeSpan.FromSeconds(3);

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
        OptionChecks.CheckRegistrars(RegistrarUrl, RegistrarUrls, Trust, errors);

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

        if (MinPoolSize is < 1 or > 64 || MaxPoolSize is < 1 or > 64 || EffectiveMinPoolSize > EffectiveMaxPoolSize)
        {
            errors.Add($"MinPoolSize is {MinPoolSize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "not set (PoolSize)"} and MaxPoolSize {MaxPoolSize?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "not set (PoolSize)"}; both must be between 1 and 64, MinPoolSize at most MaxPoolSize (each PoolSize when not set).");
        }

        if (PoolGrowthWindow <= TimeSpan.Zero || PoolShrinkAfter < TimeSpan.FromSeconds(1) || OwnerRelayLostAfter < TimeSpan.FromMilliseconds(100))
        {
            errors.Add("PoolGrowthWindow must be positive, PoolShrinkAfter at least 1 second and OwnerRelayLostAfter at least 100 ms.");
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

    /// <summary>The registrars in the order they are tried.</summary>
    internal IReadOnlyList<Uri> AllRegistrarUrls() => OptionChecks.Registrars(RegistrarUrl, RegistrarUrls);

    /// <summary>The largest pool: <see cref="MaxPoolSize"/>, or <see cref="PoolSize"/> when it is not set.</summary>
    internal int EffectiveMaxPoolSize => MaxPoolSize ?? PoolSize;

    /// <summary>
    /// The pool the agent starts a registration with: the advice clamped to <see cref="MinPoolSize"/> and the largest
    /// pool, or <see cref="PoolSize"/> (clamped the same way) without advice.
    /// </summary>
    /// <param name="advice">The registration answer's pool advice, if any.</param>
    internal int BasePool(int? advice) => Math.Clamp(advice ?? PoolSize, EffectiveMinPoolSize, Math.Max(EffectiveMinPoolSize, EffectiveMaxPoolSize));

    /// <summary>The smallest pool: <see cref="MinPoolSize"/>, or <see cref="PoolSize"/> when it is not set.</summary>
    internal int EffectiveMinPoolSize => MinPoolSize ?? PoolSize;
}
