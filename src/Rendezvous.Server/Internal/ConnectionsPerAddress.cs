using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Kestrel connection middleware (before TLS) that lets each client address (IPv6: each /64, see
/// <see cref="ClientAddressKey"/>) hold at most <paramref name="limit"/> open connections and closes the others as
/// soon as they are accepted, so one address cannot take all of the listener's connections. Every connection that
/// ends is counted for the <see cref="MemoryTrimmer"/>.
/// </summary>
internal sealed class ConnectionsPerAddress(int limit, MemoryTrimmer trimmer, ILogger logger)
{
    private readonly ConcurrencyLimiter<IPAddress> _open = new();

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        try
        {
            await LimitAsync(connection, next).ConfigureAwait(false);
        }
        finally
        {
            trimmer.ConnectionClosed();
        }
    }

    private async Task LimitAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (connection.RemoteEndPoint is not IPEndPoint remote)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var key = ClientAddressKey.Of(remote.Address);
        if (!_open.TryEnter(key, limit))
        {
            ServerLog.RegistrarConnectionRefusedPerAddress(logger, key, limit);
            connection.Abort(new ConnectionAbortedException("Too many connections from this address."));
            return;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            _open.Exit(key);
        }
    }
}
