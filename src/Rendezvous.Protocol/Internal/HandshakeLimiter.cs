using System.Net;

namespace Rendezvous.Protocol.Internal;

/// <summary>
/// Counts connections per client IP address that have not sent their first line yet, so one address
/// cannot hold the relay's handshake slots (and, in the server, the registrar's open connections per address).
/// Memory is bounded by the connections themselves: an address is forgotten when its last handshake ends.
/// </summary>
internal sealed class HandshakeLimiter : ConcurrencyLimiter<IPAddress>;
