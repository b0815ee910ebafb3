namespace Rendezvous.Protocol.Transport;

/// <summary>Limits of the socket transport used by the rendezvous port and the client library.</summary>
public sealed class SocketTransportOptions
{
    /// <summary>The longest keep-alive time or interval the socket layer takes (Linux's limit, 32,767 seconds).</summary>
    public const int MaxKeepAliveSeconds = 32_767;

    /// <summary>The most keep-alive probes the socket layer takes (Linux's limit).</summary>
    public const int MaxKeepAliveRetryCount = 127;

    private TimeSpan _keepAliveTime = TimeSpan.FromSeconds(60);
    private TimeSpan _keepAliveInterval = TimeSpan.FromSeconds(10);
    private int _keepAliveRetryCount = 6;
    private int _maxUnsentBytes;

    /// <summary>
    /// How many received bytes one direction may hold before the server stops reading from that socket
    /// (backpressure). Together with <see cref="MaxSendBufferSize"/> this bounds a session's memory.
    /// Defaults to 64 KiB.
    /// </summary>
    public int MaxReceiveBufferSize { get; set; } = 64 * 1024;

    /// <summary>How many bytes may wait to be sent to a slow peer before writers are paused. Defaults to 64 KiB.</summary>
    public int MaxSendBufferSize { get; set; } = 64 * 1024;

    /// <summary>
    /// How many bytes written to a socket may wait unsent in the kernel before a send waits (<c>TCP_NOTSENT_LOWAT</c>,
    /// Linux and macOS; ignored elsewhere): a slow peer's backlog then stays in this process, bounded by
    /// <see cref="MaxSendBufferSize"/>, instead of megabytes of kernel memory per socket. Bytes in flight are not
    /// limited, so throughput is not either. Zero leaves it to the kernel (unbounded by default). Defaults to 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative.</exception>
    public int MaxUnsentBytes
    {
        get => _maxUnsentBytes;
        set => _maxUnsentBytes = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "The most unsent bytes per socket is 0 (the kernel's choice) or more.");
    }

    /// <summary>Whether to disable Nagle's algorithm on relayed sockets. Defaults to <see langword="true"/>.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// Whether connections send TCP keep-alive probes once idle, so that one whose peer vanished without a FIN
    /// or a reset (power cut, NAT state dropped) is closed instead of held for ever: after
    /// <see cref="KeepAliveTime"/> of silence, then <see cref="KeepAliveRetryCount"/> unanswered probes
    /// <see cref="KeepAliveInterval"/> apart (2 minutes with the defaults). Defaults to <see langword="true"/>.
    /// </summary>
    public bool KeepAlive { get; set; } = true;

    /// <summary>How long a connection may be silent before the first keep-alive probe: whole seconds from 1 to 32,767. Defaults to 60 seconds.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not whole seconds from 1 to 32,767.</exception>
    public TimeSpan KeepAliveTime
    {
        get => _keepAliveTime;
        set => _keepAliveTime = CheckKeepAliveSeconds(value);
    }

    /// <summary>The time between unanswered keep-alive probes: whole seconds from 1 to 32,767. Defaults to 10 seconds.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not whole seconds from 1 to 32,767.</exception>
    public TimeSpan KeepAliveInterval
    {
        get => _keepAliveInterval;
        set => _keepAliveInterval = CheckKeepAliveSeconds(value);
    }

    /// <summary>How many unanswered keep-alive probes close the connection: 1 to 127. Defaults to 6.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not from 1 to 127.</exception>
    public int KeepAliveRetryCount
    {
        get => _keepAliveRetryCount;
        set => _keepAliveRetryCount = IsValidKeepAliveRetryCount(value)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"A keep-alive retry count is 1 to {MaxKeepAliveRetryCount}.");
    }

    /// <summary>
    /// Whether <paramref name="value"/> is whole seconds from 1 to <see cref="MaxKeepAliveSeconds"/>, as
    /// <see cref="KeepAliveTime"/> and <see cref="KeepAliveInterval"/> take (for validating settings before use).
    /// </summary>
    /// <param name="value">A keep-alive time or interval.</param>
    /// <returns>Whether the setters would take it.</returns>
    public static bool IsValidKeepAliveSeconds(TimeSpan value) =>
        value >= TimeSpan.FromSeconds(1) && value <= TimeSpan.FromSeconds(MaxKeepAliveSeconds) && value.Ticks % TimeSpan.TicksPerSecond == 0;

    /// <summary>Whether <paramref name="value"/> is from 1 to <see cref="MaxKeepAliveRetryCount"/>, as <see cref="KeepAliveRetryCount"/> takes.</summary>
    /// <param name="value">A keep-alive retry count.</param>
    /// <returns>Whether the setter would take it.</returns>
    public static bool IsValidKeepAliveRetryCount(int value) => value is >= 1 and <= MaxKeepAliveRetryCount;

    private static TimeSpan CheckKeepAliveSeconds(TimeSpan value) => IsValidKeepAliveSeconds(value)
        ? value
        : throw new ArgumentOutOfRangeException(nameof(value), value, $"A keep-alive time or interval is whole seconds from 00:00:01 to {TimeSpan.FromSeconds(MaxKeepAliveSeconds)}.");
}
