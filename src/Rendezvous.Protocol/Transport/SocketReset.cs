using System.Net.Sockets;

namespace Rendezvous.Protocol.Transport;

/// <summary>Closing a socket with a reset.</summary>
public static class SocketReset
{
    /// <summary>
    /// Closes <paramref name="socket"/> with a TCP reset (linger 0) instead of a clean end, so the peer learns
    /// at once that the session failed. Safe on a socket that is already closed.
    /// </summary>
    /// <param name="socket">The socket; disposed by this call.</param>
    public static void ResetAndDispose(this Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed or reset: disposing is all that is left.
        }

        socket.Dispose();
    }
}
