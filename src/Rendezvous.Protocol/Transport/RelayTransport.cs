namespace Rendezvous.Protocol.Transport;

/// <summary>Which transport the relay listens with (<see cref="RendezvousRelayOptions.Transport"/>).</summary>
public enum RelayTransport
{
    /// <summary>The epoll transport where it runs (Linux on x86-64 or ARM64), the socket transport elsewhere.</summary>
    Auto,

    /// <summary>The portable socket transport (<see cref="SocketRelayListenerFactory"/>), on every operating system.</summary>
    Socket,

    /// <summary>The Linux-native epoll transport (<see cref="EpollRelayListenerFactory"/>); Linux on x86-64 or ARM64 only.</summary>
    Epoll,
}
