using System.Net;
using Rendezvous.Protocol.Transport.Epoll;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// The Linux-native relay transport's <see cref="IRelayListenerFactory"/>: connections are file descriptors driven by
/// one edge-triggered epoll loop per processor, without <c>Socket</c> objects, socket event arguments or a task per
/// idle connection, and two connections of it splice descriptor to descriptor. It keeps the transport contract of the
/// socket transport (<see cref="SocketRelayListenerFactory"/>): binary-clean bytes both ways, half-close, resets passed
/// on, close accounting, delivery waits. Linux on x86-64 or ARM64 only (<see cref="IsSupported"/>).
/// </summary>
/// <param name="options">Buffer limits, Nagle and TCP keep-alive of accepted connections; defaults when <see langword="null"/>.</param>
/// <param name="backlog">The listen backlog.</param>
public sealed class EpollRelayListenerFactory(SocketTransportOptions? options = null, int backlog = 4096) : IRelayListenerFactory
{
    /// <summary>
    /// The most descriptors the transport holds besides its connections and listeners: the pipes that bulk transfers are
    /// spliced through (two descriptors each, shared by every listener of the process). Count them in a descriptor budget.
    /// </summary>
    public const int SplicePipeDescriptors = 2 * EpollPipePool.MaxPipes;

    /// <summary>Whether this process can use the transport: Linux on x86-64 or ARM64.</summary>
    public static bool IsSupported => EpollNative.IsSupported;

    /// <summary>The settings given to accepted connections.</summary>
    public SocketTransportOptions Options { get; } = options ?? new SocketTransportOptions();

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="endPoint"/> is not an <see cref="IPEndPoint"/>.</exception>
    /// <exception cref="PlatformNotSupportedException">Not Linux on x86-64 or ARM64 (<see cref="IsSupported"/>).</exception>
    public ValueTask<IRelayListener> BindAsync(EndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        cancellationToken.ThrowIfCancellationRequested();
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("The epoll transport runs on Linux on x86-64 or ARM64 only; use the socket transport (SocketRelayListenerFactory) here.");
        }

        if (endPoint is not IPEndPoint ip)
        {
            throw new ArgumentException($"The epoll transport listens on an IP address and port, not on '{endPoint}' ({endPoint.GetType().Name}).", nameof(endPoint));
        }

        return ValueTask.FromResult<IRelayListener>(EpollRelayListener.Bind(ip, Options, backlog));
    }
}
