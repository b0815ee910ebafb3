using System.Security.Cryptography;
using System.Text;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>PROTOCOL.md §2 "Initiator (I)": unknown cookies, the grace wait, early bytes.</summary>
public sealed class InitiatorTests : ServerTestBase
{
    [Test]
    public async Task Initiator_with_unknown_cookie_gets_not_registered_then_a_clean_close()
    {
        using var initiator = await ConnectWithLineAsync("I" + "no-such-cookie");

        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Initiator_with_superseded_cookie_gets_not_registered()
    {
        var uuid = Guid.NewGuid().ToString();
        var first = await RegisterAsync(uuid);
        await RegisterAsync(uuid);

        using var initiator = await ConnectWithLineAsync(InitiatorLine(first));

        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Initiator_that_arrives_first_is_paired_with_a_responder_that_parks_within_grace()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?>(), time);
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());

        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await initiator.StaysQuietAsync(), Is.True, "waits for a responder");
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.That(await initiator.StaysQuietAsync(), Is.True, "still within the 5 s grace");

        using var responder = await ConnectWithLineAsync("R" + cookie);

        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(Server.Broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Initiator_gets_not_ready_when_nothing_parks_within_grace()
    {
        var time = NewFakeTime();
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:05" }, time);
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());

        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        var reply = initiator.ReadLineAsync();
        var advanced = await AdvanceUntilAsync(time, reply, TimeSpan.FromMilliseconds(500));

        Assert.That(await reply, Is.EqualTo("-ERR not ready"));
        Assert.That(advanced, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(5)), "not before the grace ran out");
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Initiator_with_zero_grace_gets_not_ready_at_once()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:00" });
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());

        using var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));

        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("-ERR not ready"));
        Assert.That(await initiator.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
    }

    [Test]
    public async Task Binary_bytes_an_initiator_sends_with_its_line_reach_the_responder_unchanged_after_ok()
    {
        var (responder, cookie) = await ParkAsync();
        using (responder)
        {
            // NUL, 0xFF, an invalid UTF-8 pair, a lone continuation byte, line ends, then random bytes.
            byte[] early = [0x00, 0xFF, 0xC3, 0x28, 0x80, 0xFE, (byte)'\n', (byte)'\r', (byte)'\n', .. RandomNumberGenerator.GetBytes(8192)];
            byte[] lineAndEarly = [.. Encoding.ASCII.GetBytes(InitiatorLine(cookie) + "\n"), .. early];
            using var initiator = await ConnectAsync();

            await initiator.SendAsync(lineAndEarly);

            Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(await responder.ReadExactlyAsync(early.Length), Is.EqualTo(early));
            Assert.That(await responder.StaysQuietAsync(), Is.True, "nothing added or duplicated");
            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        }
    }

    [Test]
    public async Task Bytes_an_initiator_sends_while_waiting_for_a_responder_reach_it_after_ok()
    {
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        byte[] early = [0x00, 0xFF, 0xC3, 0x28, .. RandomNumberGenerator.GetBytes(4096)];
        byte[] lineAndEarly = [.. Encoding.ASCII.GetBytes(InitiatorLine(cookie) + "\n"), .. early];
        using var initiator = await ConnectAsync();
        await initiator.SendAsync(lineAndEarly);
        Assert.That(await initiator.StaysQuietAsync(), Is.True, "waits for a responder");

        using var responder = await ConnectWithLineAsync("R" + cookie);

        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadExactlyAsync(early.Length), Is.EqualTo(early));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
    }
    [Test]
    public async Task Initiator_that_resets_while_waiting_is_never_paired()
    {
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        using var refusals = TaggedCounterListener.HandshakeFailures(Server.Services);
        var initiator = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await initiator.StaysQuietAsync(), Is.True, "waits for a responder");

        initiator.Reset();
        await WaitUntilAsync(() => refusals.Count("not_ready") == 1); // the server gave up on it

        using var responder = await ConnectWithLineAsync("R" + cookie);

        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);
        Assert.That(await responder.StaysQuietAsync(), Is.True, "parked, not paired with the dead initiator");

        using var live = await ConnectWithLineAsync(InitiatorLine(cookie));
        Assert.That(await live.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
    }

    [Test]
    public async Task Initiator_that_half_closes_while_waiting_is_still_paired_and_its_bytes_and_end_are_passed_on()
    {
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        using var initiator = await ConnectAsync();
        await initiator.SendAsync(InitiatorLine(cookie) + "\nwhole request");
        initiator.ShutdownSend();
        Assert.That(await initiator.StaysQuietAsync(), Is.True, "waits for a responder");

        using var responder = await ConnectWithLineAsync("R" + cookie);

        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(Encoding.ASCII.GetString(await responder.ReadToEndAsync()), Is.EqualTo("whole request"));
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        await responder.SendAsync("answer");
        responder.ShutdownSend();
        Assert.That(Encoding.ASCII.GetString(await initiator.ReadToEndAsync()), Is.EqualTo("answer"));
    }
}
