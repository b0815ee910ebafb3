using System.Net;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// A bound relay endpoint that hands out connections, made by an <see cref="IRelayListenerFactory"/>.
/// </summary>
/// <remarks>
/// <para>
/// Connection accounting is the caller's, through the connection: register a callback with
/// <see cref="RelayConnection.OnClosed"/> once a connection is accepted, and a transport runs it exactly once when the
/// connection has released what it holds of the transport (its socket), whichever way it ended. A server counts open
/// connections and connections per address that way; refusing a connection is <see cref="RelayConnection.Abort"/>.
/// </para>
/// <para>
/// <see cref="AcceptAsync"/> is called by one loop at a time (<see cref="RelayAcceptLoop"/>). Disposing the listener stops accepting; connections
/// already accepted are not affected.
/// </para>
/// </remarks>
public interface IRelayListener : IAsyncDisposable
{
    /// <summary>Where the listener listens; for a TCP endpoint with port 0, the port that was chosen.</summary>
    EndPoint LocalEndPoint { get; }

    /// <summary>Waits for the next connection.</summary>
    /// <param name="cancellationToken">Stops waiting; the listener stays open.</param>
    /// <returns>The accepted connection, or <see langword="null"/> once the listener was disposed.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">
    /// Accepting failed and the listener stays usable, for instance out of file descriptors
    /// (<see cref="System.Net.Sockets.SocketError.TooManyOpenSockets"/>): the pending connection stays queued, so a
    /// loop must wait a moment before it tries again or it spins (<see cref="RelayAcceptLoop"/> waits 100 ms and reports once per 10 s).
    /// </exception>
    ValueTask<RelayConnection?> AcceptAsync(CancellationToken cancellationToken = default);
}
