namespace Rendezvous.Security;

/// <summary>
/// Settings of the TOTP registration policy, bound from the configuration section <c>Rendezvous:Security</c>.
/// </summary>
public sealed class TotpSecurityOptions
{
    /// <summary>The configuration section the options are bound from (<c>Rendezvous:Security</c>).</summary>
    public const string SectionName = "Rendezvous:Security";

    /// <summary>The configuration key of the data directory (<c>Rendezvous:DataDirectory</c>).</summary>
    public const string DataDirectoryKey = "Rendezvous:DataDirectory";

    /// <summary>The data directory used when <c>Rendezvous:DataDirectory</c> is not configured (<c>./rendezvous-data</c>).</summary>
    public const string DefaultDataDirectory = "./rendezvous-data";

    /// <summary>
    /// The SQLite database file holding the secrets. Defaults to <see langword="null"/>, meaning
    /// <c>rendezvous.db</c> in the directory named by the configuration key <c>Rendezvous:DataDirectory</c>
    /// (itself defaulting to <c>./rendezvous-data</c>).
    /// </summary>
    public string? DatabasePath { get; set; }

    /// <summary>
    /// How many time steps before and after the current one a code may belong to, absorbing clock skew.
    /// Between 0 and 10. Defaults to 1.
    /// </summary>
    public int AllowedSkewSteps { get; set; } = 1;

    /// <summary>
    /// Failed attempts for one UUID within <see cref="FailureWindow"/> after which that UUID is throttled for every
    /// address except its known ones (see <see cref="KnownAddressLifetime"/>), each of which has a budget of this
    /// many failures of its own, so guessing from elsewhere cannot lock the hidden server out.
    /// Between 1 and 1,000. Defaults to 5.
    /// </summary>
    public int MaxFailuresPerUuid { get; set; } = 5;

    /// <summary>
    /// Failed attempts from one remote address (an IPv6 /64) within <see cref="FailureWindow"/> after which
    /// that address is throttled. Between 1 and 100,000. Defaults to 20.
    /// </summary>
    public int MaxFailuresPerAddress { get; set; } = 20;

    /// <summary>
    /// How long failures are counted, from the first one; a throttled caller waits until the window ends.
    /// Between 1 second and 1 day. Defaults to 60 seconds.
    /// </summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The most UUIDs, and separately the most addresses, whose failures are tracked at once, bounding memory;
    /// when full, expired and then oldest entries are forgotten. Between 100 and 10,000,000. Defaults to 100,000.
    /// </summary>
    public int MaxTrackedKeys { get; set; } = 100_000;

    /// <summary>
    /// How long an address (an IPv6 /64) that registered a UUID successfully stays known for that UUID after its
    /// last success. A known address has its own budget of <see cref="MaxFailuresPerUuid"/> failures, and is still
    /// limited by <see cref="MaxFailuresPerAddress"/>. Between 1 minute and 30 days. Defaults to 24 hours.
    /// </summary>
    public TimeSpan KnownAddressLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The most known addresses remembered per UUID; when full, the least recently successful is forgotten.
    /// Between 1 and 100. Defaults to 4.
    /// </summary>
    public int MaxKnownAddressesPerUuid { get; set; } = 4;

    /// <summary>
    /// The most known addresses remembered over all UUIDs, bounding memory; when full, the expired and then the least
    /// recently successful are forgotten. Between 100 and 10,000,000. Defaults to 100,000.
    /// </summary>
    public int MaxKnownAddresses { get; set; } = 100_000;
}
