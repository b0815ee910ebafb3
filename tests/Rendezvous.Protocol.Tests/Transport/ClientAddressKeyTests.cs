using System.Net;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>Per-address limits count IPv4 addresses one by one and IPv6 addresses per /64.</summary>
public sealed class ClientAddressKeyTests
{
    [TestCase("203.0.113.7", "203.0.113.7")]
    [TestCase("::ffff:203.0.113.7", "203.0.113.7")]
    [TestCase("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [TestCase("2001:db8:1:2::1", "2001:db8:1:2::")]
    [TestCase("::1", "::")]
    public void An_address_is_counted_in_its_block(string address, string key) =>
        Assert.That(ClientAddressKey.Of(IPAddress.Parse(address)), Is.EqualTo(IPAddress.Parse(key)));

    [Test]
    public void Addresses_of_one_ipv6_64_share_a_key_and_other_64s_do_not()
    {
        var one = ClientAddressKey.Of(IPAddress.Parse("2001:db8:1:2::1"));

        Assert.That(ClientAddressKey.Of(IPAddress.Parse("2001:db8:1:2:ffff::9")), Is.EqualTo(one));
        Assert.That(ClientAddressKey.Of(IPAddress.Parse("2001:db8:1:3::1")), Is.Not.EqualTo(one));
    }
}
