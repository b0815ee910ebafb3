using System.Net;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// Binds the relay's listening endpoint for one transport, as Kestrel's <c>IConnectionListenerFactory</c> does for
/// HTTP. The socket transport (<see cref="SocketRelayListenerFactory"/>) is the default; a server takes another one
/// from its service collection, so an embedder swaps the transport by registering theirs
/// (<c>services.AddSingleton&lt;IRelayListenerFactory, MyFactory&gt;()</c>).
/// </summary>
public interface IRelayListenerFactory
{
    /// <summary>Binds <paramref name="endPoint"/> and starts listening.</summary>
    /// <param name="endPoint">Where to listen; the transport decides which kinds of endpoint it accepts.</param>
    /// <param name="cancellationToken">Gives up binding.</param>
    /// <returns>The listener; its <see cref="IRelayListener.LocalEndPoint"/> says where it really listens (port 0 chosen).</returns>
    /// <exception cref="System.Net.Sockets.SocketException">The endpoint cannot be bound (socket transport).</exception>
    /// <exception cref="ArgumentException">The transport cannot listen on this kind of endpoint.</exception>
    ValueTask<IRelayListener> BindAsync(EndPoint endPoint, CancellationToken cancellationToken = default);
}
