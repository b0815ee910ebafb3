using Rendezvous.Protocol.Transport;

namespace Rendezvous.Protocol;

/// <summary>Settings of the rendezvous (raw TCP) side. Configuration section <c>Rendezvous:Relay</c>.</summary>
public sealed class RendezvousRelayOptions
{
    /// <summary>
    /// Which transport the relay listens with: <see cref="RelayTransport.Auto"/> (the default) takes the Linux-native
    /// epoll transport where it runs (Linux on x86-64 or ARM64) and the portable socket transport elsewhere;
    /// <see cref="RelayTransport.Socket"/> and <see cref="RelayTransport.Epoll"/> choose one. An application that
    /// registers its own <see cref="Transport.IRelayListenerFactory"/> overrides it.
    /// </summary>
    public RelayTransport Transport { get; set; } = RelayTransport.Auto;

    /// <summary>How long a connection may take to send its first line. Defaults to 10 seconds.</summary>
    public TimeSpan FirstLineTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an initiator waits for a responder to park before it gets <c>-ERR not ready</c>.
    /// Zero fails at once, as the original did. Defaults to 5 seconds.
    /// </summary>
    public TimeSpan InitiatorGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How many connections may be parked per cookie; when full, the oldest is closed.
    /// Defaults to 1 (the original's behaviour).
    /// </summary>
    public int ParkedConnectionsPerCookie { get; set; } = 1;

    /// <summary>
    /// How many bytes the server holds per direction of a session before it stops reading from the
    /// sender (backpressure); also bounds bytes kept from a parked responder. Defaults to 64 KiB.
    /// </summary>
    public int MaxBufferedBytesPerDirection { get; set; } = 64 * 1024;

    /// <summary>
    /// How many bytes written to a rendezvous socket may wait unsent in the kernel (<c>TCP_NOTSENT_LOWAT</c>; Linux
    /// and macOS, ignored elsewhere) before the relay stops sending to it and so stops reading from the other side:
    /// a slow reader's backlog then stays in the relay's bounded buffers and, beyond them, with the sender, instead of
    /// megabytes of kernel memory per socket (the kernel grows a socket's send buffer to 4 MiB by default) that the
    /// relay has acknowledged but not delivered. Bytes in flight are not limited. Zero leaves it to the kernel.
    /// Defaults to 1 MiB: on loopback 128 KiB cost about an eighth of one session's throughput (a reader that falls
    /// behind for a moment is no longer covered by the kernel's backlog), 1 MiB nothing measurable.
    /// </summary>
    public int MaxUnsentBytesPerSocket { get; set; } = 1024 * 1024;

    /// <summary>
    /// How long a session that ended cleanly may wait, before its sockets are closed, for each peer to acknowledge
    /// every byte the relay sent it. A session whose bytes were all acknowledged ends <c>completed</c>; one still
    /// holding unacknowledged bytes when the time runs out (or whose peer reset) ends <c>truncated</c>, and that
    /// socket is closed with a reset. Zero does not wait: a session with bytes still unacknowledged at its end is
    /// then <c>truncated</c> at once. Defaults to 30 seconds.
    /// </summary>
    public TimeSpan CloseLinger { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many rendezvous connections (sockets: parked, waiting, spliced or still handshaking) the relay
    /// holds at once; a connection accepted beyond it is closed at once and counted as a handshake failure
    /// (<c>too_many_connections</c>). A spliced session holds two. Defaults to 20,000.
    /// </summary>
    public int MaxConnections { get; set; } = 20_000;

    /// <summary>
    /// How many connections from one client IP address may be waiting for their first line at once; one
    /// beyond it is closed at once and counted as a handshake failure (<c>too_many_handshakes</c>).
    /// Parked and spliced connections do not count. Defaults to 64.
    /// </summary>
    public int MaxHandshakesPerAddress { get; set; } = 64;

    /// <summary>
    /// How many sessions one client address (an IPv6 /64) may hold at once for one UUID: initiators paired or waiting
    /// for a responder. One beyond it gets <c>-ERR too many sessions</c> and is closed without taking a parked
    /// connection, and is counted as a handshake failure (<c>too_many_sessions</c>), so one client cannot take every
    /// connection a hidden server parks. Defaults to 8: a browser's 6 parallel connections per host with room to
    /// spare, and below the 10 unauthenticated connections sshd admits by default (<c>MaxStartups</c>), so one
    /// address cannot hold all of those of an SSH server behind the relay.
    /// </summary>
    public int MaxSessionsPerAddressPerUuid { get; set; } = 8;

    /// <summary>
    /// Whether rendezvous connections send TCP keep-alive probes once idle, so that a parked or spliced
    /// connection whose peer vanished without a FIN or a reset is closed instead of held for ever (after
    /// <see cref="KeepAliveTime"/>, then <see cref="KeepAliveRetryCount"/> probes <see cref="KeepAliveInterval"/>
    /// apart: 2 minutes with the defaults). Defaults to <see langword="true"/>.
    /// </summary>
    public bool KeepAlive { get; set; } = true;

    /// <summary>How long a connection may be silent before the first keep-alive probe (whole seconds, 1 to 32,767). Defaults to 60 seconds.</summary>
    public TimeSpan KeepAliveTime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The time between unanswered keep-alive probes (whole seconds, 1 to 32,767). Defaults to 10 seconds.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How many unanswered keep-alive probes close a connection (1 to 127). Defaults to 6.</summary>
    public int KeepAliveRetryCount { get; set; } = 6;

    /// <summary>
    /// Whether registration answers carry a <c>pool</c> field: how many connections the hidden server should keep
    /// parked, sized by <see cref="Broker.PoolAdvisor"/> from the demand measured for its UUID and this node's load.
    /// Clients of the original ignore the field. Defaults to <see langword="true"/>.
    /// </summary>
    public bool PoolAdvice { get; set; } = true;

    /// <summary>
    /// The largest pool advised (1 to 64). Advice never exceeds <see cref="ParkedConnectionsPerCookie"/> either, since
    /// the relay closes connections parked beyond it. Defaults to 8.
    /// </summary>
    public int MaxPoolAdvice { get; set; } = 8;

    /// <summary>
    /// How long a burst of initiators keeps the advice up: the advice follows the peak demand over this interval,
    /// which leaves it a tenth of the interval at a time (1 minute to 1 day). Defaults to 10 minutes.
    /// </summary>
    public TimeSpan PoolAdviceInterval { get; set; } = TimeSpan.FromMinutes(10);
}
