using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rendezvous.Protocol;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Relay;

/// <summary>Rendezvous:Relay:MaxConnections, MaxHandshakesPerAddress and MaxSessionsPerAddressPerUuid: over a cap a connection is closed (or refused) at once and counted.</summary>
public sealed class ConnectionLimitsTests : ServerTestBase
{
    [Test]
    public async Task Connection_beyond_max_connections_is_closed_at_once_and_counted()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxConnections"] = "2" });
        using var refusals = TaggedCounterListener.HandshakeFailures(Server.Services);
        using var first = await ConnectAsync();
        using var second = await ConnectAsync();

        Assert.That(await ConnectAndWaitForEndAsync(), Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed));
        await WaitUntilAsync(() => refusals.Count("too_many_connections") == 1);
        Assert.That(await first.StaysQuietAsync(), Is.True, "the connections under the cap are untouched");
    }

    [Test]
    public async Task Closed_connection_frees_its_place_under_max_connections()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxConnections"] = "2" });
        using var first = await ConnectAsync();
        using (var second = await ConnectWithLineAsync("Iunknown"))
        {
            Assert.That(await second.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
            Assert.That(await second.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
        }

        // The server closes its socket once it has read our end too (it drains before closing, so that its
        // -ERR is not lost to a reset): only then is the place free.
        var listener = Server.Services.GetServices<IHostedService>().OfType<RelayListenerService>().Single();
        await WaitUntilAsync(() => listener.OpenConnections == 1);
        using var next = await ConnectWithLineAsync("Ianother");

        Assert.That(await next.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
    }

    [Test]
    public async Task Spliced_sessions_count_two_connections_each_against_max_connections()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxConnections"] = "3" });
        using var refusals = TaggedCounterListener.HandshakeFailures(Server.Services);
        var (initiator, responder) = await PairAsync();
        using (initiator)
        using (responder)
        {
            using var third = await ConnectAsync();

            Assert.That(await ConnectAndWaitForEndAsync(), Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed));
            await WaitUntilAsync(() => refusals.Count("too_many_connections") == 1);
            await initiator.SendAsync("still spliced");
            Assert.That(System.Text.Encoding.ASCII.GetString(await responder.ReadExactlyAsync(13)), Is.EqualTo("still spliced"));
        }
    }

    [Test]
    public async Task Handshakes_beyond_the_per_address_limit_are_closed_and_counted()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:MaxHandshakesPerAddress"] = "2" });
        using var refusals = TaggedCounterListener.HandshakeFailures(Server.Services);
        var silent = new List<LoopbackClient>();
        try
        {
            // The handlers start in any order: whichever came third is closed, the other two wait for their line.
            // The reset can reach a client before its own connect has completed: that one counts as closed.
            for (var i = 0; i < 3; i++)
            {
                try
                {
                    silent.Add(await ConnectAsync());
                }
                catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionReset)
                {
                }
            }

            await WaitUntilAsync(() => refusals.Count("too_many_handshakes") == 1);
            var waiting = new List<LoopbackClient>();
            foreach (var client in silent)
            {
                if (await EndsWithinAsync(client, TestTimeouts.Quiet) is not { } end)
                {
                    waiting.Add(client);
                }
                else
                {
                    Assert.That(end, Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed));
                }
            }

            Assert.That(waiting, Has.Count.EqualTo(2));
            Assert.That(await waiting[0].StaysQuietAsync(), Is.True);

            // A connection that sent its line no longer counts: a new one from the same address gets in.
            await waiting[0].SendAsync("Iunknown\n");
            Assert.That(await waiting[0].ReadLineAsync(), Is.EqualTo("-ERR not registered"));
            using var next = await ConnectWithLineAsync("Ianother");
            Assert.That(await next.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        }
        finally
        {
            foreach (var client in silent)
            {
                client.Dispose();
            }
        }
    }

    [Test]
    public async Task Initiators_beyond_the_per_address_per_uuid_cap_get_too_many_sessions_and_other_addresses_still_pair()
    {
        await RestartServerAsync(new Dictionary<string, string?>
        {
            ["Rendezvous:Relay:MaxSessionsPerAddressPerUuid"] = "2",
            ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "8",
        });
        using var refusals = TaggedCounterListener.HandshakeFailures(Server.Services);
        var listener = Server.Services.GetServices<IHostedService>().OfType<RelayListenerService>().Single();
        var greedy = System.Net.IPAddress.Parse("127.0.0.2");
        var other = System.Net.IPAddress.Parse("127.0.0.3");
        var cookie = await RegisterAsync(Guid.NewGuid().ToString());
        var clients = new List<LoopbackClient>();
        try
        {
            var responders = new List<LoopbackClient>();
            for (var i = 0; i < 3; i++)
            {
                responders.Add(await ConnectWithLineAsync("R" + cookie));
                clients.Add(responders[i]);
                await WaitUntilAsync(() => Server.Broker.ParkedCount == responders.Count);
            }

            var sessions = new List<LoopbackClient>();
            for (var i = 0; i < 2; i++)
            {
                sessions.Add(await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, InitiatorLine(cookie), greedy));
                clients.Add(sessions[i]);
                Assert.That(await sessions[i].ReadLineAsync(), Is.EqualTo("+OK"));
            }

            // One more from the same address is refused with a line of its own and closed, taking nothing.
            using (var extra = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, InitiatorLine(cookie), greedy))
            {
                Assert.That(await extra.ReadLineAsync(), Is.EqualTo("-ERR too many sessions"));
                Assert.That(await extra.WaitForEndAsync(), Is.EqualTo(PeerEnd.Closed));
            }

            Assert.That(refusals.Count("too_many_sessions"), Is.EqualTo(1));
            Assert.That(Server.Broker.ParkedCount, Is.EqualTo(1));

            // The parked connection left is another client's.
            var third = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, InitiatorLine(cookie), other);
            clients.Add(third);
            Assert.That(await third.ReadLineAsync(), Is.EqualTo("+OK"));

            // A session that ends gives its place back: the same address pairs again.
            // The newest parked connection is taken first: the first session's responder is the last parked.
            var open = listener.OpenConnections;
            sessions[0].Dispose();
            responders[2].Dispose();
            await WaitUntilAsync(() => listener.OpenConnections <= open - 2);
            clients.Add(await ConnectWithLineAsync("R" + cookie));
            await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);
            var again = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, InitiatorLine(cookie), greedy);
            clients.Add(again);
            Assert.That(await again.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(refusals.Count("too_many_sessions"), Is.EqualTo(1));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Test]
    public void Max_sessions_per_address_per_uuid_out_of_range_is_reported_with_the_key_and_the_accepted_range()
    {
        var result = new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { MaxSessionsPerAddressPerUuid = 0 });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Is.EqualTo(new[] { "Rendezvous:Relay:MaxSessionsPerAddressPerUuid is 0; it must be between 1 and 1000000." }));
        Assert.That(new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { MaxSessionsPerAddressPerUuid = 1_000_000 }).Succeeded, Is.True);
    }

    /// <summary>Connects and waits for the server to close the connection; a connect reset by the server counts as a reset.</summary>
    private async Task<PeerEnd> ConnectAndWaitForEndAsync()
    {
        try
        {
            using var client = await ConnectAsync();
            return await client.WaitForEndAsync();
        }
        catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode is System.Net.Sockets.SocketError.ConnectionReset or System.Net.Sockets.SocketError.ConnectionRefused)
        {
            return PeerEnd.Reset;
        }
    }

    /// <summary>How the connection ended, or <see langword="null"/> when it is still open after <paramref name="wait"/>.</summary>
    private static async Task<PeerEnd?> EndsWithinAsync(LoopbackClient client, TimeSpan wait)
    {
        try
        {
            return await client.WaitForEndAsync(wait);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    [Test]
    public void Limits_out_of_range_are_reported_with_the_key_and_the_accepted_range()
    {
        var result = new ServerOptionsValidator().Validate(null, new RendezvousRelayOptions { MaxConnections = 1, MaxHandshakesPerAddress = 0 });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Has.Some.EqualTo("Rendezvous:Relay:MaxConnections is 1; it must be between 2 and 1000000 (a spliced session holds two connections)."));
        Assert.That(result.Failures, Has.Some.EqualTo("Rendezvous:Relay:MaxHandshakesPerAddress is 0; it must be between 1 and 1000000."));
    }

    [Test]
    public void Default_limits_leave_room_for_nine_thousand_sessions_and_their_parked_connections()
    {
        var defaults = new RendezvousRelayOptions();

        Assert.That(defaults.MaxConnections, Is.GreaterThanOrEqualTo(18_000 + 1_000));
        Assert.That(defaults.MaxHandshakesPerAddress, Is.EqualTo(64));
        Assert.That(defaults.MaxSessionsPerAddressPerUuid, Is.EqualTo(8));
    }
}
