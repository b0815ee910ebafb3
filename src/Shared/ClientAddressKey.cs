using System.Net;
using System.Net.Sockets;

namespace Rendezvous.Internal;

/// <summary>
/// The key under which a client's remote address is counted (throttles, per-address caps): IPv4-mapped addresses
/// count as IPv4; IPv6 addresses count per /64, the smallest block a site usually gets. Linked as source into the
/// assemblies that count per address, so none has to reference another for it.
/// </summary>
internal static class ClientAddressKey
{
    /// <summary>The key of <paramref name="address"/>; <see langword="null"/> when the address is unknown.</summary>
    public static string? Of(IPAddress? address)
    {
        if (address is null)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
    }
}
