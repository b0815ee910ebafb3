using System.Net;
using System.Net.Sockets;

namespace Rendezvous.Protocol.Transport;

/// <summary>How per-address limits and throttles group client addresses.</summary>
public static class ClientAddressKey
{
    /// <summary>
    /// The block <paramref name="address"/> is counted in: IPv4-mapped addresses count as IPv4, IPv4 addresses one by
    /// one, IPv6 addresses per /64 (the low 64 bits cleared), the smallest block a site usually gets.
    /// </summary>
    /// <param name="address">A client's address.</param>
    /// <returns>The address that stands for its block.</returns>
    public static IPAddress Of(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
