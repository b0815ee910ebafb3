namespace Rendezvous.Server;

/// <summary>Where the server listens and keeps its files. Configuration section <c>Rendezvous</c>.</summary>
public sealed class RendezvousServerOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Rendezvous";

    /// <summary>
    /// The folder for the secrets database and the generated registrar certificate.
    /// Defaults to <c>./rendezvous-data</c>.
    /// </summary>
    public string DataDirectory { get; set; } = "./rendezvous-data";

    /// <summary>
    /// The registrar's URL: <c>https://HOST:PORT</c>, or <c>http://HOST:PORT</c> behind a TLS-terminating proxy.
    /// HOST may be an address, <c>localhost</c>, or <c>*</c> for every interface. Empty disables the built-in
    /// registrar listener (for example when an ASP.NET Core application maps it itself).
    /// Defaults to <c>https://0.0.0.0:8898</c>.
    /// </summary>
    public string? RegistrarUrl { get; set; } = "https://0.0.0.0:8898";

    /// <summary>
    /// The rendezvous (raw TCP) listener: <c>HOST:PORT</c>, with HOST an IPv4 address, a bracketed IPv6
    /// address, <c>localhost</c> or <c>*</c>. Defaults to <c>0.0.0.0:8899</c>.
    /// </summary>
    public string RendezvousEndpoint { get; set; } = "0.0.0.0:8899";

    /// <summary>
    /// A PEM certificate for the registrar, optionally followed by its intermediates (a <c>fullchain.pem</c>),
    /// which are sent in every handshake. When unset, a self-signed one is generated on first run at
    /// <c>&lt;DataDirectory&gt;/registrar.crt</c> and reused after. Defaults to unset.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="CertificatePath"/>. Defaults to unset.</summary>
    public string? KeyPath { get; set; }

    /// <summary>
    /// On shutdown, how long live sessions may go on after the listeners stopped before they are closed.
    /// Defaults to 10 seconds.
    /// </summary>
    /// <remarks>
    /// <c>AddRendezvousServer()</c> also gives the host time for it: it sets <c>HostOptions.ShutdownTimeout</c> to
    /// this plus 5 seconds when that is still the host's default (30 seconds) or shorter; a longer shutdown timeout
    /// set by the application is kept.
    /// </remarks>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether socket completions run inline on the runtime's socket event thread instead of hopping to the thread
    /// pool, which cut the server's CPU per rendezvous by about a third. Configuration key
    /// <c>Rendezvous:Relay:InlineSocketCompletions</c> (<c>true</c> or <c>false</c>). Defaults to <see langword="true"/>.
    /// </summary>
    /// <remarks>
    /// The runtime offers this only as the environment variable <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>,
    /// read once, when the process's first socket starts asynchronous I/O, and for the whole process. So when
    /// <see langword="true"/>, the host sets it to <c>1</c> as it starts, before any hosted service starts (unless it is
    /// set already: an operator's value wins). It takes effect only if nothing in the process did asynchronous socket
    /// I/O before the host started (an <c>HttpClient</c> call in <c>Main</c>, say); set the variable before the process
    /// starts to be sure. It affects every socket of the process: code that runs after an awaited socket read (in an
    /// <c>HttpClient</c> response, say) runs on the event thread until it awaits, so it must not block. Kestrel still
    /// runs request code on the thread pool. Linux and macOS only; Windows ignores it. <see langword="false"/> leaves
    /// the variable alone.
    /// </remarks>
    public bool InlineSocketCompletions { get; set; } = true;

    /// <summary>A value of <c>Rendezvous:Relay:InlineSocketCompletions</c> that is not a boolean, for the validator to name.</summary>
    internal string? InvalidInlineSocketCompletions { get; set; }

    /// <summary>
    /// How many connections the built-in registrar listener holds open at once (Kestrel's
    /// <c>MaxConcurrentConnections</c>); more are closed as soon as they are accepted. Lowered at start, with a warning,
    /// when the listeners' caps together do not fit in the process's descriptor limit. Defaults to 1000.
    /// </summary>
    public int RegistrarMaxConnections { get; set; } = 1000;

    /// <summary>
    /// How many connections one client address (IPv6: one /64) may hold open to the built-in registrar listener at once,
    /// counted before TLS; more are closed as soon as they are accepted. Defaults to 64.
    /// </summary>
    public int RegistrarMaxConnectionsPerAddress { get; set; } = 64;

    /// <summary>
    /// After how many closed connections (relay and registrar together) the server gives memory back to the system: a
    /// full compacting garbage collection and a trim of the C library's heap, checked every 5 seconds and run once a
    /// 5-second interval is quiet (at most a tenth of this many closed in it: the flood is over; steady traffic never
    /// triggers it) and at most once per 20 seconds, so memory taken by a flood is returned within seconds after it.
    /// 0 never trims.
    /// Defaults to 1000.
    /// </summary>
    public int TrimMemoryAfterConnections { get; set; } = 1000;
}
