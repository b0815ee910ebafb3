using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Sessions;

/// <summary><see cref="SessionRelay"/> between a hidden-server agent and a local socket, over a real server on loopback.</summary>
public sealed class SessionRelayTests
{
    [Test]
    public async Task Local_end_of_stream_and_session_end_of_stream_are_passed_on_as_half_closes()
    {
        // The local service answers only after the client's end of stream reached it, then ends its side.
        using var local = new TcpListener(IPAddress.Loopback, 0);
        local.Start();
        var service = Task.Run(async () =>
        {
            using var socket = await local.AcceptSocketAsync();
            var buffer = new byte[1024];
            var total = 0;
            int read;
            while ((read = await socket.ReceiveAsync(buffer.AsMemory(total), SocketFlags.None)) > 0)
            {
                total += read;
            }

            await socket.SendAsync(Encoding.ASCII.GetBytes($"got {Encoding.ASCII.GetString(buffer, 0, total)}"), SocketFlags.None);
            socket.Shutdown(SocketShutdown.Send);
        });

        SessionRelayResult? relayed = null;
        await using var fixture = await Fixture.StartAsync(async (session, ct) =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync((IPEndPoint)local.LocalEndpoint, ct);
            relayed = await SessionRelay.RelayToSocketAsync(session, socket, ct);
        });

        await using (var session = await fixture.ConnectAsync())
        {
            await session.Stream.WriteAsync(Encoding.ASCII.GetBytes("ping"));
            await session.CompleteSendingAsync();
            using var reader = new StreamReader(session.Stream);
            Assert.That(await reader.ReadToEndAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("got ping"));
        }

        await service.WaitAsync(TestTimeouts.Short);
        await ClientTestKit.WaitUntilAsync(() => relayed is not null, "the session was relayed");
        Assert.That(relayed, Is.EqualTo(new SessionRelayResult(SessionRelayEnd.Completed, 8, 4)));
    }

    [Test]
    public async Task A_local_reset_aborts_the_session()
    {
        using var local = new TcpListener(IPAddress.Loopback, 0);
        local.Start();
        var service = Task.Run(async () =>
        {
            using var socket = await local.AcceptSocketAsync();
            var buffer = new byte[16];
            _ = await socket.ReceiveAsync(buffer, SocketFlags.None);
            socket.LingerState = new LingerOption(true, 0);
        });

        SessionRelayResult? relayed = null;
        await using var fixture = await Fixture.StartAsync(async (session, ct) =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync((IPEndPoint)local.LocalEndpoint, ct);
            relayed = await SessionRelay.RelayToSocketAsync(session, socket, ct);
        });

        await using var session = await fixture.ConnectAsync();
        await session.Stream.WriteAsync(Encoding.ASCII.GetBytes("x"));
        await service.WaitAsync(TestTimeouts.Short);

        Assert.That(
            async () =>
            {
                var buffer = new byte[16];
                while (await session.Stream.ReadAsync(buffer).AsTask().WaitAsync(TestTimeouts.Short) > 0)
                {
                }
            },
            Throws.InstanceOf<IOException>());
        await ClientTestKit.WaitUntilAsync(() => relayed is not null, "the session was relayed");
        Assert.That(relayed!.End, Is.EqualTo(SessionRelayEnd.Aborted));
    }

    [Test]
    public async Task A_relay_connection_gets_the_session_with_half_closes_passed_on_both_ways()
    {
        // The local end is an accepted relay connection (in memory here), as the forwarder's are.
        var local = new PipeRelayConnection();
        SessionRelayResult? relayed = null;
        await using var fixture = await Fixture.StartAsync(async (session, ct) =>
            relayed = await SessionRelay.RelayToConnectionAsync(session, local, ct));

        await using (var session = await fixture.ConnectAsync())
        {
            await local.SendAsync("hello").WaitAsync(TestTimeouts.Short);
            local.CompleteSending();
            using var reader = new StreamReader(session.Stream);
            Assert.That(await reader.ReadToEndAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("hello"), "the local end of stream reached the peer");

            // The other direction still flows after that half-close, and its end completes the connection's output.
            await session.Stream.WriteAsync(Encoding.ASCII.GetBytes("late"));
            await session.CompleteSendingAsync();
            Assert.That(await local.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("late"));
        }

        await ClientTestKit.WaitUntilAsync(() => relayed is not null, "the session was relayed");
        Assert.That(relayed, Is.EqualTo(new SessionRelayResult(SessionRelayEnd.Completed, 5, 4)));
        Assert.That(local.WasAborted, Is.False);
    }

    [Test]
    public async Task A_reset_of_the_relay_connection_aborts_the_session()
    {
        var local = new PipeRelayConnection();
        SessionRelayResult? relayed = null;
        await using var fixture = await Fixture.StartAsync(async (session, ct) =>
            relayed = await SessionRelay.RelayToConnectionAsync(session, local, ct));

        await using var session = await fixture.ConnectAsync();
        await local.SendAsync("x").WaitAsync(TestTimeouts.Short);
        var buffer = new byte[16];
        Assert.That(await session.Stream.ReadAsync(buffer).AsTask().WaitAsync(TestTimeouts.Short), Is.EqualTo(1));
        local.CompleteSending(new IOException("reset by peer"));

        Assert.That(
            async () =>
            {
                while (await session.Stream.ReadAsync(buffer).AsTask().WaitAsync(TestTimeouts.Short) > 0)
                {
                }
            },
            Throws.InstanceOf<IOException>());
        await ClientTestKit.WaitUntilAsync(() => relayed is not null, "the session was relayed");
        Assert.That(relayed!.End, Is.EqualTo(SessionRelayEnd.Aborted));
        await local.Aborted.WaitAsync(TestTimeouts.Short);
    }

    private sealed class Fixture : IAsyncDisposable
    {
        private readonly RendezvousTestServer _server;
        private readonly HiddenServerAgent _agent;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<HiddenServerStopReason> _running;
        private readonly RendezvousConnector _connector;
        private readonly string _uuid;

        private Fixture(RendezvousTestServer server, HiddenServerAgent agent, RendezvousConnector connector, string uuid)
        {
            _server = server;
            _agent = agent;
            _connector = connector;
            _uuid = uuid;
            _running = agent.RunAsync(_stop.Token);
        }

        public static async Task<Fixture> StartAsync(Func<RendezvousSession, CancellationToken, Task> handler)
        {
            var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
            var uuid = Guid.NewGuid().ToString();
            var secret = KeyGeneration.GenerateRandomKey(20);
            await SqliteSecretStore.ForDataDirectory(server.DataDirectory).AddAsync(new SecretEntry(uuid, secret, 30, 6, DateTimeOffset.UtcNow));
            var trust = new RegistrarTrust { PinnedFingerprint = server.CertificateFingerprint };
            var agent = new HiddenServerAgent(
                new HiddenServerAgentOptions { RegistrarUrl = server.RegistrarUrl, Trust = trust, Uuid = uuid, Secret = Base32Encoding.ToString(secret), PoolSize = 1 },
                handler);
            var connector = new RendezvousConnector(new RendezvousConnectorOptions { RegistrarUrl = server.RegistrarUrl, Trust = trust });
            var fixture = new Fixture(server, agent, connector, uuid);
            await ClientTestKit.WaitUntilAsync(() => agent.Status.Parked >= 1, "the agent has parked");
            return fixture;
        }

        public Task<RendezvousSession> ConnectAsync() => _connector.ConnectAsync(_uuid).WaitAsync(TestTimeouts.Short);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _running.WaitAsync(TestTimeouts.Short);
            _agent.Dispose();
            _connector.Dispose();
            _stop.Dispose();
            await _server.DisposeAsync();
        }
    }
}
