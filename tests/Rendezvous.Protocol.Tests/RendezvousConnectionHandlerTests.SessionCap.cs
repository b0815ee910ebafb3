using System.Net;
using System.Text;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests;

/// <summary>
/// <see cref="RendezvousRelayOptions.MaxSessionsPerAddressPerUuid"/>: initiators paired or waiting for one UUID from one
/// client address (an IPv6 /64) are capped; one beyond gets <c>-ERR too many sessions</c> and takes nothing; the count
/// is given back however a session ends, and nothing is kept for an address once its sessions are over.
/// </summary>
public sealed partial class RendezvousConnectionHandlerTests
{
    private const int Cap = 2;
    private static readonly IPAddress ClientA = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress ClientB = IPAddress.Parse("192.0.2.2");

    [Test]
    public async Task SessionCap_Initiator_beyond_the_cap_gets_too_many_sessions_and_leaves_the_parked_connection_to_another_address()
    {
        CapSessions();
        await ParkAsync(Cap + 1);
        for (var i = 0; i < Cap; i++)
        {
            var (paired, _) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
            Assert.That(await paired.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        }

        var (extra, extraHandling) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);

        Assert.That(await extra.ReadToEndAsciiAsync(), Is.EqualTo("-ERR too many sessions\n"));
        await extraHandling.WaitAsync(TestTimeouts.Short);
        Assert.That(_broker.ParkedCount, Is.EqualTo(1), "the refused initiator took no parked connection");
        var (other, _) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientB);
        Assert.That(await other.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task SessionCap_Waiting_initiators_count_against_the_cap()
    {
        CapSessions();
        for (var i = 0; i < Cap; i++)
        {
            await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
        }

        var (extra, _) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);

        Assert.That(await extra.ReadToEndAsciiAsync(), Is.EqualTo("-ERR too many sessions\n"));
    }

    [Test]
    public async Task SessionCap_Addresses_of_one_ipv6_64_share_the_cap_and_other_64s_do_not()
    {
        CapSessions();
        await ParkAsync(Cap + 1);
        for (var i = 1; i <= Cap; i++)
        {
            var (paired, _) = await ConnectAsync("I" + _initiatorCookie + "\n", IPAddress.Parse($"2001:db8:0:1::{i}"));
            Assert.That(await paired.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        }

        var (sameBlock, _) = await ConnectAsync("I" + _initiatorCookie + "\n", IPAddress.Parse("2001:db8:0:1:ffff::9"));
        var (otherBlock, _) = await ConnectAsync("I" + _initiatorCookie + "\n", IPAddress.Parse("2001:db8:0:2::1"));

        Assert.That(await sameBlock.ReadToEndAsciiAsync(), Is.EqualTo("-ERR too many sessions\n"));
        Assert.That(await otherBlock.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task SessionCap_The_cap_is_per_uuid()
    {
        CapSessions();
        var otherCookie = _broker.Register("uuid-2");
        await ParkAsync(Cap);
        await ParkAsync(1, otherCookie);
        for (var i = 0; i < Cap; i++)
        {
            var (paired, _) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
            Assert.That(await paired.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        }

        var (other, _) = await ConnectAsync("I" + RendezvousCookies.InitiatorValueFor(otherCookie) + "\n", ClientA);

        Assert.That(await other.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task SessionCap_A_completed_session_gives_its_place_back_and_nothing_is_kept_for_the_address()
    {
        CapSessions();
        var responders = await ParkAsync(Cap + 1);
        var initiators = new List<(PipeRelayConnection Connection, Task Handling)>();
        for (var i = 0; i < Cap; i++)
        {
            initiators.Add(await ConnectAsync("I" + _initiatorCookie + "\n", ClientA));
            Assert.That(await initiators[i].Connection.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
        }

        // The last responder parked was taken first: end that session from both sides.
        initiators[0].Connection.CompleteSending();
        responders[^1].CompleteSending();
        await initiators[0].Handling.WaitAsync(TestTimeouts.Short);
        Assert.That(_handler.SessionSourceCount, Is.EqualTo(1));

        var (next, _) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
        Assert.That(await next.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));

        await _stop.CancelAsync();
        await Task.WhenAll(_running.Select(r => r.Handling)).WaitAsync(TestTimeouts.Short);
        Assert.That(_handler.SessionSourceCount, Is.Zero);
    }

    [Test]
    public async Task SessionCap_A_session_reset_by_its_initiator_gives_its_place_back()
    {
        CapSessions();
        await ParkAsync(1);
        var (reset, resetHandling) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
        Assert.That(await reset.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));

        reset.CompleteSending(new IOException("connection reset"));

        await resetHandling.WaitAsync(TestTimeouts.Short);
        Assert.That(_handler.SessionSourceCount, Is.Zero);
    }

    [Test]
    public async Task SessionCap_An_initiator_told_not_ready_gives_its_place_back()
    {
        CapSessions();
        var waiting = new List<(PipeRelayConnection Connection, Task Handling)>();
        for (var i = 0; i < Cap; i++)
        {
            waiting.Add(await ConnectAsync("I" + _initiatorCookie + "\n", ClientA));
        }

        _time.Advance(Grace);

        foreach (var (connection, handling) in waiting)
        {
            Assert.That(await connection.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not ready\n"));
            await handling.WaitAsync(TestTimeouts.Short);
        }

        Assert.That(_handler.SessionSourceCount, Is.Zero);
        await ParkAsync(1);
        var (next, _) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
        Assert.That(await next.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task SessionCap_A_waiting_initiator_that_resets_gives_its_place_back()
    {
        CapSessions();
        var (initiator, initiating) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);

        initiator.CompleteSending(new IOException("connection reset"));

        await initiating.WaitAsync(TestTimeouts.Short);
        Assert.That(_handler.SessionSourceCount, Is.Zero);
    }

    [Test]
    public async Task SessionCap_Initiators_with_unknown_cookies_are_not_counted()
    {
        CapSessions();
        for (var i = 0; i < Cap + 1; i++)
        {
            var (initiator, handling) = await ConnectAsync("Iunknown\n", ClientA);
            Assert.That(await initiator.ReadToEndAsciiAsync(), Is.EqualTo("-ERR not registered\n"));
            await handling.WaitAsync(TestTimeouts.Short);
        }

        Assert.That(_handler.SessionSourceCount, Is.Zero);
    }

    [Test]
    public async Task SessionCap_Refused_initiator_leaves_the_count_where_it_was()
    {
        CapSessions();
        for (var i = 0; i < Cap; i++)
        {
            await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
        }

        var (extra, extraHandling) = await ConnectAsync("I" + _initiatorCookie + "\n", ClientA);
        Assert.That(await extra.ReadToEndAsciiAsync(), Is.EqualTo("-ERR too many sessions\n"));
        await extraHandling.WaitAsync(TestTimeouts.Short);

        // The two waiting are still counted: when they are told not ready, nothing is left behind.
        Assert.That(_handler.SessionSourceCount, Is.EqualTo(1));
        _time.Advance(Grace);
        await Task.WhenAll(_running.Select(r => r.Handling)).WaitAsync(TestTimeouts.Short);
        Assert.That(_handler.SessionSourceCount, Is.Zero);
    }

    /// <summary>Sets the cap, and a pool large enough to park what these tests park.</summary>
    private void CapSessions()
    {
        _options.CurrentValue.MaxSessionsPerAddressPerUuid = Cap;
        _options.CurrentValue.ParkedConnectionsPerCookie = 16;
    }

    /// <summary>Parks <paramref name="count"/> responders under <paramref name="cookie"/> (this test's when <see langword="null"/>).</summary>
    private async Task<List<PipeRelayConnection>> ParkAsync(int count, string? cookie = null)
    {
        var parked = new List<PipeRelayConnection>();
        var before = _broker.ParkedCount;
        for (var i = 0; i < count; i++)
        {
            var (responder, _) = await ConnectAsync("R" + (cookie ?? _cookie) + "\n", IPAddress.Loopback);
            parked.Add(responder);
        }

        Assert.That(_broker.ParkedCount, Is.EqualTo(before + count));
        return parked;
    }

    /// <summary>Opens a connection from <paramref name="from"/> whose peer has already sent <paramref name="firstBytes"/>, and starts handling it.</summary>
    private async Task<(PipeRelayConnection Connection, Task Handling)> ConnectAsync(string firstBytes, IPAddress from)
    {
        var connection = new PipeRelayConnection(remoteEndPoint: new IPEndPoint(from, 40000));
        await connection.SendAsync(Encoding.ASCII.GetBytes(firstBytes));
        return (connection, Start(connection));
    }
}
