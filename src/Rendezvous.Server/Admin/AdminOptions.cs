namespace Rendezvous.Server.Admin;

/// <summary>
/// The admin web page, <c>/metrics</c> and <c>/healthz</c> that <c>AddAdminPage()</c> adds to a server (and
/// <c>rendezvous serve</c> runs). Configuration section <c>Rendezvous:Admin</c>. See docs/admin.md.
/// </summary>
public sealed class AdminOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Rendezvous:Admin";

    /// <summary>The default <see cref="Url"/>: <c>http://127.0.0.1:8893</c>.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8893";

    /// <summary>The <see cref="Url"/> that turns the admin listener off.</summary>
    public const string Off = "none";

    /// <summary>The name of the generated token's file in the data directory.</summary>
    public const string TokenFileName = "admin-token";

    /// <summary>The shortest token accepted.</summary>
    public const int MinimumTokenLength = 16;

    /// <summary>
    /// Where the admin page, <c>/metrics</c> and <c>/healthz</c> listen: <c>http://HOST:PORT</c> or <c>https://HOST:PORT</c>
    /// (https uses the registrar's certificate). <c>none</c> (or empty) turns the listener off. A HOST that is not a
    /// loopback address needs <see cref="AllowRemote"/>. Defaults to <c>http://127.0.0.1:8893</c>.
    /// </summary>
    public string? Url { get; set; } = DefaultUrl;

    /// <summary>
    /// The token that signs in to the admin page, at least 16 characters. When unset, a random one is generated on
    /// first run into <c>&lt;DataDirectory&gt;/admin-token</c> (mode 0600) and read from there on later runs.
    /// Defaults to unset.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>
    /// Whether <see cref="Url"/> may name an address other than loopback (the page is then reachable from the network;
    /// prefer https). Defaults to <see langword="false"/>: reach the page through an SSH tunnel instead.
    /// </summary>
    public bool AllowRemote { get; set; }

    /// <summary>Failed sign-ins from one address within <see cref="LoginFailureWindow"/> after which that address waits. Between 1 and 1,000. Defaults to 5.</summary>
    public int MaxLoginFailures { get; set; } = 5;

    /// <summary>How long failed sign-ins are counted, from the first one. Between 1 second and 1 day. Defaults to 5 minutes.</summary>
    public TimeSpan LoginFailureWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a sign-in lasts. Between 1 minute and 30 days. Defaults to 8 hours.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>Whether the admin listener is on.</summary>
    public bool Enabled => !IsOff(Url);

    /// <summary>Whether <paramref name="url"/> turns the listener off (<c>none</c> or empty).</summary>
    /// <param name="url">A value of <see cref="Url"/>.</param>
    /// <returns>Whether it means off.</returns>
    public static bool IsOff(string? url) => string.IsNullOrWhiteSpace(url) || string.Equals(url.Trim(), Off, StringComparison.OrdinalIgnoreCase);
}
