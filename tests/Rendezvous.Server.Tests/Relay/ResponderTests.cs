using System.Security.Cryptography;
using System.Text;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>PROTOCOL.md §2 "Responder (R)": parking, the pool, dead parked connections, re-registration, early bytes.</summary>
public sealed class ResponderTests : ServerTestBase
{
    [Test]
    public async Task Responder_with_unknown_cookie_gets_not_registered_then_a_clean_close()
    {
        using var responder = await ConnectWithLineAsync("R" + "no-such-cookie");

        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
        Assert.That(Server.Broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Responder_with_superseded_cookie_gets_not_registered()
    {
        var uuid = Guid.NewGuid().ToString();
        var first = await RegisterAsync(uuid);
        var second = await RegisterAsync(uuid);
        Assert.That(second, Is.Not.EqualTo(first));

        using var responder = await ConnectWithLineAsync("R" + first);

        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        Assert.That(await responder.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Parked_responder_receives_nothing_until_paired()
    {
        var (responder, _) = await ParkAsync();
        using (responder)
        {
            Assert.That(await responder.StaysQuietAsync(), Is.True);
            Assert.That(Server.Broker.ParkedCount, Is.EqualTo(1));
        }
    }

    [Test]
    public async Task Pairing_writes_ok_to_both_sides()
    {
        var (responder, cookie) = await ParkAsync();
        using (responder)
        using (var initiator = await ConnectWithLineAsync(InitiatorLine(cookie)))
        {
            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(Server.Broker.ParkedCount, Is.Zero);

            // Exactly "+OK\n" each: nothing else follows until someone sends.
            Assert.That(await initiator.StaysQuietAsync(), Is.True);
            Assert.That(await responder.StaysQuietAsync(), Is.True);
        }
    }

    [Test]
    public async Task By_default_a_second_responder_for_a_cookie_closes_the_first()
    {
        var (first, cookie) = await ParkAsync();
        using (first)
        using (var second = await ConnectWithLineAsync("R" + cookie))
        {
            Assert.That(await first.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
            Assert.That(Server.Broker.ParkedCount, Is.EqualTo(1));

            using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(await second.ReadLineAsync(), Is.EqualTo("+OK"));
        }
    }

    [Test]
    public async Task With_a_pool_of_three_a_fourth_responder_closes_the_oldest()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "3" });
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        var parked = new List<LoopbackClient>();
        try
        {
            for (var i = 1; i <= 3; i++)
            {
                parked.Add(await ConnectWithLineAsync("R" + cookie));
                var expected = i;
                await WaitUntilAsync(() => Server.Broker.ParkedCount == expected);
            }

            Assert.That(await parked[0].StaysQuietAsync(), Is.True, "three fit in the pool");

            parked.Add(await ConnectWithLineAsync("R" + cookie));

            Assert.That(await parked[0].WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed), "the oldest is closed");
            await WaitUntilAsync(() => Server.Broker.ParkedCount == 3);
            Assert.That(await parked[1].StaysQuietAsync(), Is.True);
            Assert.That(await parked[2].StaysQuietAsync(), Is.True);
            Assert.That(await parked[3].StaysQuietAsync(), Is.True);
        }
        finally
        {
            parked.ForEach(p => p.Dispose());
        }
    }

    [Test]
    public async Task Parked_responder_that_half_closes_is_unparked_at_once_and_never_paired()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:00.300" });
        var (responder, cookie) = await ParkAsync();
        using (responder)
        {
            responder.ShutdownSend();
            await WaitUntilAsync(() => Server.Broker.ParkedCount == 0);

            using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("-ERR not ready"));
            Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
            Assert.That(await responder.WaitForEndAsync(), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset), "the dead responder got no +OK");
        }
    }

    [Test]
    public async Task Parked_responder_that_closes_is_unparked_at_once_and_never_paired()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:00.300" });
        var (responder, cookie) = await ParkAsync();
        responder.Dispose();
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 0);

        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("-ERR not ready"));
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Parked_responder_that_resets_is_unparked_at_once_and_never_paired()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:00.300" });
        var (responder, cookie) = await ParkAsync();
        responder.Reset();
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 0);

        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("-ERR not ready"));
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Re_registration_closes_responders_parked_with_the_old_cookie_at_once()
    {
        var uuid = Guid.NewGuid().ToString();
        var old = await RegisterAsync(uuid);
        using var responder = await ConnectWithLineAsync("R" + old);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);

        var fresh = await RegisterAsync(uuid);

        Assert.That(await responder.WaitForEndAsync(), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
        Assert.That(Server.Broker.ParkedCount, Is.Zero);

        // The new cookie works; the old one is gone.
        using var initiatorOld = await ConnectWithLineAsync(InitiatorLine(old));
        Assert.That(await initiatorOld.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        using var responderNew = await ConnectWithLineAsync("R" + fresh);
        using var initiatorNew = await ConnectWithLineAsync(InitiatorLine(fresh));
        Assert.That(await initiatorNew.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responderNew.ReadLineAsync(), Is.EqualTo("+OK"));
    }

    [Test]
    public async Task Bytes_a_responder_sends_with_its_line_reach_the_initiator_after_ok()
    {
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        byte[] early = [0x00, 0xFF, 0xC3, 0x28, (byte)'\n', (byte)'\r', .. RandomNumberGenerator.GetBytes(4096)];
        using var responder = await ConnectAsync();
        byte[] lineAndEarly = [.. Encoding.ASCII.GetBytes("R" + cookie + "\n"), .. early];
        await responder.SendAsync(lineAndEarly);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);

        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));

        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await initiator.ReadExactlyAsync(early.Length), Is.EqualTo(early));
        Assert.That(await initiator.StaysQuietAsync(), Is.True, "nothing duplicated");
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
    }

    [Test]
    public async Task Bytes_a_parked_responder_sends_while_waiting_reach_the_initiator_after_ok()
    {
        var (responder, cookie) = await ParkAsync();
        using (responder)
        {
            var early = RandomNumberGenerator.GetBytes(16 * 1024);
            await responder.SendAsync(early);
            Assert.That(await responder.StaysQuietAsync(), Is.True, "still parked; the bytes are held");
            Assert.That(Server.Broker.ParkedCount, Is.EqualTo(1));

            using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));

            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(await initiator.ReadExactlyAsync(early.Length), Is.EqualTo(early));
            Assert.That(await initiator.StaysQuietAsync(), Is.True, "nothing duplicated");
        }
    }
}
