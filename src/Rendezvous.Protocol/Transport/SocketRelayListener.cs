using System.Net;
using System.Net.Sockets;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// Accepts TCP connections on one endpoint and wraps each in a <see cref="SocketRelayConnection"/>: the socket
/// transport's <see cref="IRelayListener"/>.
/// </summary>
public sealed class SocketRelayListener : IRelayListener
{
    private readonly Socket _socket;
    private readonly SocketTransportOptions _options;

    private SocketRelayListener(Socket socket, SocketTransportOptions options)
    {
        _socket = socket;
        _options = options;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>The bound endpoint; with port 0 it holds the port the system chose.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <inheritdoc />
    EndPoint IRelayListener.LocalEndPoint => LocalEndPoint;

    /// <summary>Binds and starts listening.</summary>
    /// <param name="endPoint">Where to listen. <c>[::]</c> accepts IPv4 as well.</param>
    /// <param name="options">Buffer limits, Nagle and TCP keep-alive of accepted connections (keep-alive on by default).</param>
    /// <param name="backlog">The listen backlog. Defaults to 4096.</param>
    /// <returns>The listener.</returns>
    /// <exception cref="SocketException">
    /// The endpoint cannot be bound, for instance <see cref="SocketError.AddressAlreadyInUse"/> when another socket
    /// (in this or another process) listens on it: the port is never shared.
    /// </exception>
    public static SocketRelayListener Bind(IPEndPoint endPoint, SocketTransportOptions? options = null, int backlog = 4096)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return new SocketRelayListener(BindSocket(endPoint, backlog), options ?? new SocketTransportOptions());
    }

    /// <summary>A TCP socket bound to <paramref name="endPoint"/> and listening (dual mode on <c>[::]</c>, the port never shared).</summary>
    /// <exception cref="SocketException">The endpoint cannot be bound.</exception>
    internal static Socket BindSocket(IPEndPoint endPoint, int backlog)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            // No ReuseAddress: on Linux and macOS .NET maps it to SO_REUSEADDR *and* SO_REUSEPORT, which lets a
            // second process bind the same port and take a share of the connections. .NET already sets
            // SO_REUSEADDR alone on every TCP bind outside Windows (a restart may bind over TIME_WAIT); on
            // Windows the port is claimed exclusively so no other socket can bind over it.
            if (OperatingSystem.IsWindows())
            {
                socket.ExclusiveAddressUse = true;
            }

            socket.Bind(endPoint);
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return socket;
    }

    /// <summary>The buffer limits, Nagle and keep-alive settings given to accepted connections.</summary>
    public SocketTransportOptions Options => _options;

    /// <summary>Waits for the next connection.</summary>
    /// <param name="cancellationToken">Stops waiting; the listener is not closed by it.</param>
    /// <returns>
    /// The accepted <see cref="SocketRelayConnection"/>, or <see langword="null"/> when the listener was closed. A
    /// connection reset before it could be set up is skipped.
    /// </returns>
    /// <exception cref="SocketException">
    /// Accepting failed and the listener stays usable, for instance out of descriptors
    /// (<see cref="SocketError.TooManyOpenSockets"/>, EMFILE or ENFILE): the connection stays in the backlog, so an
    /// accept loop must wait before it tries again (<see cref="RelayAcceptLoop"/> does).
    /// </exception>
    public async ValueTask<RelayConnection?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (await AcceptSocketAsync(cancellationToken).ConfigureAwait(false) is { } accepted)
        {
            try
            {
                return SocketRelayConnection.Create(accepted, _options);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                accepted.Dispose();
            }
        }

        return null;
    }

    /// <summary>Waits for the next socket; a client that gave up before it was accepted is skipped.</summary>
    /// <returns>The accepted socket, or <see langword="null"/> when the listener was closed.</returns>
    /// <exception cref="SocketException">
    /// Accepting failed and the listener stays usable; <see cref="SocketError.TooManyOpenSockets"/> is EMFILE (this
    /// process's descriptor limit) or ENFILE (the system's file table; .NET gives both its message "Too many open files
    /// in system"). The connection then stays in the backlog, so an accept loop must wait before it tries again or it
    /// spins (<see cref="RelayAcceptLoop"/> does).
    /// </exception>
    private async ValueTask<Socket?> AcceptSocketAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            try
            {
                return await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // The client gave up before we accepted it; wait for the next one.
            }
        }
    }

    /// <summary>Stops listening. Accepted connections are not affected.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
