namespace Rendezvous.Protocol.Transport;

/// <summary>Limits of the socket transport used by the rendezvous port and the client library.</summary>
public sealed class SocketTransportOptions
{
    /// <summary>
    /// How many received bytes one direction may hold before the server stops reading from that socket
    /// (backpressure). Together with <see cref="MaxSendBufferSize"/> this bounds a session's memory.
    /// Defaults to 64 KiB.
    /// </summary>
    public int MaxReceiveBufferSize { get; set; } = 64 * 1024;

    /// <summary>How many bytes may wait to be sent to a slow peer before writers are paused. Defaults to 64 KiB.</summary>
    public int MaxSendBufferSize { get; set; } = 64 * 1024;

    /// <summary>Whether to disable Nagle's algorithm on relayed sockets. Defaults to <see langword="true"/>.</summary>
    public bool NoDelay { get; set; } = true;
}
