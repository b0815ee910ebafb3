using System.Text;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>PROTOCOL.md §2: the first line's syntax: line ends, mode letters, cookie bytes.</summary>
public sealed class HandshakeTests : ServerTestBase
{
    [Test]
    public async Task Responder_line_ending_in_crlf_is_accepted()
    {
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        using var responder = await ConnectAsync();

        await responder.SendAsync("R" + cookie + "\r\n");

        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);
        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
    }

    [Test]
    public async Task Initiator_line_ending_in_crlf_is_accepted()
    {
        var (responder, cookie) = await ParkAsync();
        using (responder)
        using (var initiator = await ConnectAsync())
        {
            await initiator.SendAsync(InitiatorLine(cookie) + "\r\n");

            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
        }
    }

    [Test]
    public async Task Crlf_line_end_does_not_leak_a_carriage_return_to_the_peer()
    {
        var (responder, cookie) = await ParkAsync();
        using (responder)
        using (var initiator = await ConnectAsync())
        {
            await initiator.SendAsync(InitiatorLine(cookie) + "\r\nhello");

            Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(Encoding.ASCII.GetString(await responder.ReadExactlyAsync(5)), Is.EqualTo("hello"));
        }
    }

    [TestCase("Xcookie\n")]
    [TestCase("GET / HTTP/1.1\r\nHost: example\r\n\r\n")]
    [TestCase("r-lowercase-mode\n")]
    [TestCase("\n")]
    [TestCase(" Rcookie\n")]
    public async Task Line_with_a_bad_mode_letter_gets_invalid_cookie_then_a_clean_close(string line)
    {
        using var client = await ConnectAsync();

        await client.SendAsync(line);

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR invalid cookie"));
        Assert.That(await client.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Bad_mode_letter_is_answered_without_waiting_for_the_line_end()
    {
        using var client = await ConnectAsync();

        await client.SendAsync("X");

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR invalid cookie"));
    }

    [TestCase((byte)0x00)]
    [TestCase((byte)0x01)]
    [TestCase((byte)'\t')]
    [TestCase((byte)' ')]
    [TestCase((byte)0x7F)]
    [TestCase((byte)0x80)]
    [TestCase((byte)0xFF)]
    [TestCase((byte)'\r')]
    public async Task Non_printable_byte_in_the_cookie_gets_invalid_cookie(byte bad)
    {
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        byte[] line = [(byte)'R', .. Encoding.ASCII.GetBytes(cookie[..4]), bad, .. Encoding.ASCII.GetBytes(cookie[4..]), (byte)'\n'];
        using var client = await ConnectAsync();

        await client.SendAsync(line);

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR invalid cookie"));
        Assert.That(await client.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
        Assert.That(Server.Broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Empty_cookie_is_not_registered()
    {
        using var client = await ConnectWithLineAsync("I");

        Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        Assert.That(await client.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Client_that_leaves_before_finishing_its_line_is_closed_without_a_reply()
    {
        using var client = await ConnectAsync();
        await client.SendAsync("Rhalf-a-cook");

        client.ShutdownSend();

        Assert.That(await client.ReadToEndAsync(TestTimeouts.Short), Is.Empty);
        Assert.That(Server.Broker.ParkedCount, Is.Zero);
    }
}
