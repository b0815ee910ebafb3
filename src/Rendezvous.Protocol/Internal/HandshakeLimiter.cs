using System.Net;

namespace Rendezvous.Protocol.Internal;

/// <summary>
/// Counts connections per client IP address that have not sent their first line yet, so one address
/// cannot hold the relay's handshake slots (and, in the server, the registrar's open connections per address).
/// Memory is bounded by the connections themselves: an address is forgotten when its last handshake ends.
/// </summary>
internal sealed class HandshakeLimiter
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, int> _pending = [];

    /// <summary>Counts a handshake of <paramref name="address"/> unless it already has <paramref name="limit"/>.</summary>
    /// <returns>Whether the handshake may go on; when it may, <see cref="Exit"/> must follow.</returns>
    public bool TryEnter(IPAddress address, int limit)
    {
        lock (_lock)
        {
            _pending.TryGetValue(address, out var count);
            if (count >= limit)
            {
                return false;
            }

            _pending[address] = count + 1;
            return true;
        }
    }

    /// <summary>Ends a handshake counted by <see cref="TryEnter"/>.</summary>
    public void Exit(IPAddress address)
    {
        lock (_lock)
        {
            if (_pending.TryGetValue(address, out var count))
            {
                if (count <= 1)
                {
                    _pending.Remove(address);
                }
                else
                {
                    _pending[address] = count - 1;
                }
            }
        }
    }
}
