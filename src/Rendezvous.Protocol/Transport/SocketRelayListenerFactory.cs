using System.Net;

namespace Rendezvous.Protocol.Transport;

/// <summary>The socket transport's <see cref="IRelayListenerFactory"/>: binds a <see cref="SocketRelayListener"/>.</summary>
/// <param name="options">Buffer limits, Nagle and TCP keep-alive of accepted connections; defaults when <see langword="null"/>.</param>
/// <param name="backlog">The listen backlog.</param>
public sealed class SocketRelayListenerFactory(SocketTransportOptions? options = null, int backlog = 4096) : IRelayListenerFactory
{
    /// <summary>The settings given to accepted connections.</summary>
    public SocketTransportOptions Options { get; } = options ?? new SocketTransportOptions();

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="endPoint"/> is not an <see cref="IPEndPoint"/>.</exception>
    public ValueTask<IRelayListener> BindAsync(EndPoint endPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        cancellationToken.ThrowIfCancellationRequested();
        if (endPoint is not IPEndPoint ip)
        {
            throw new ArgumentException($"The socket transport listens on an IP address and port, not on '{endPoint}' ({endPoint.GetType().Name}).", nameof(endPoint));
        }

        return ValueTask.FromResult<IRelayListener>(SocketRelayListener.Bind(ip, Options, backlog));
    }
}
