using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Rendezvous.Protocol;

namespace Rendezvous.Client.Connector;

/// <summary>
/// Opens a TCP connection with a deadline, as a hidden server does to reach its local service for each session
/// (<c>rendezvous expose --to</c>): a name is resolved and each of its addresses tried, an address is connected to
/// directly, and Nagle's algorithm is turned off, as for every relayed connection.
/// </summary>
public static class TcpConnector
{
    /// <summary>Connects to <paramref name="target"/> within <paramref name="timeout"/>.</summary>
    /// <param name="target">The host (a name or an address) and port, e.g. from <see cref="EndpointText.TryParse"/>.</param>
    /// <param name="timeout">How long the connection may take, resolving the name included; positive.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <returns>The connected socket; the caller owns it.</returns>
    /// <exception cref="TimeoutException">The connection took longer than <paramref name="timeout"/>; the message names the target and the timeout.</exception>
    /// <exception cref="SocketException">The connection was refused, or the name could not be resolved.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<Socket> ConnectAsync(DnsEndPoint target, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        var socket = IPAddress.TryParse(target.Host, out var address)
            ? new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            if (address is not null)
            {
                await socket.ConnectAsync(address, target.Port, deadline.Token).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(target.Host, target.Port, deadline.Token).ConfigureAwait(false);
            }

            socket.NoDelay = true;
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException(string.Create(
                CultureInfo.InvariantCulture,
                $"connecting to {EndpointText.Format(target)} took longer than {timeout.TotalSeconds:0.#} s"));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

}
