using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Sessions;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>What the agent does with the sessions it is paired into.</summary>
public sealed class HiddenServerAgentSessionTests
{
    private RendezvousTestServer _server = null!;
    private HiddenServerIdentity _identity = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        _server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        _identity = await ClientTestKit.ProvisionAsync(_server);
    }

    [TearDown]
    public async Task StopServerAsync() => await _server.DisposeAsync();

    [Test]
    public async Task Handler_that_throws_ends_only_its_session()
    {
        var calls = 0;
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(_server, _identity), (session, ct) =>
            Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("handler bug") : ClientTestKit.EchoAsync(session, ct));
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        await agent.WaitParkedAsync();

        await using (var failed = await connector.ConnectAsync(_identity.Uuid).WaitAsync(TestTimeouts.Short))
        {
            Assert.That(await ClientTestKit.ReadToEndAsync(failed.Stream), Is.Empty);
        }

        var echoed = await ClientTestKit.RoundTripAsync(connector, _identity.Uuid, [5]);

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo(new byte[] { 5 }));
            Assert.That(agent.Run.IsCompleted, Is.False);
            Assert.That(agent.Agent.Status.TotalSessions, Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Session_pipe_carries_the_same_bytes_as_the_stream()
    {
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(_server, _identity), async (session, ct) =>
        {
            // Echo through the pipe API.
            while (true)
            {
                var result = await session.Pipe.Input.ReadAsync(ct);
                foreach (var segment in result.Buffer)
                {
                    await session.Pipe.Output.WriteAsync(segment, ct);
                }

                session.Pipe.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            await session.CompleteSendingAsync();
        });
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        await agent.WaitParkedAsync();
        var data = ClientTestKit.Binary(64 * 1024);

        var echoed = await ClientTestKit.RoundTripAsync(connector, _identity.Uuid, data);

        Assert.That(echoed, Is.EqualTo(data));
    }

    [Test]
    public async Task Client_that_never_authenticates_is_dropped_after_the_authentication_timeout()
    {
        using var certificate = RegistrarCertificates.CreateSelfSigned("hidden", ["hidden.example"], TimeSpan.FromDays(1));
        var options = ClientTestKit.AgentOptions(_server, _identity);
        options.Authenticator = new TlsHiddenServerAuthenticator(certificate);
        options.AuthenticationTimeout = TimeSpan.FromMilliseconds(500);
        var handled = 0;
        await using var agent = RunningAgent.Start(options, (session, ct) =>
        {
            Interlocked.Increment(ref handled);
            return ClientTestKit.EchoAsync(session, ct);
        });
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        await agent.WaitParkedAsync();

        await using var silent = await connector.ConnectAsync(_identity.Uuid).WaitAsync(TestTimeouts.Short);
        var started = DateTime.UtcNow;
        var received = await ReadUntilEndAsync(silent.Stream);
        var elapsed = DateTime.UtcNow - started;

        // The agent counts the session out just after closing it, so the client may see the end first.
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.ActiveSessions == 0, "the agent counts the session out");
        Assert.Multiple(() =>
        {
            Assert.That(received, Is.Zero, "nothing but the end: the server waits for a client hello");
            Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
            Assert.That(Volatile.Read(ref handled), Is.Zero);
        });
    }

    [Test]
    public async Task Client_can_reach_the_hidden_server_by_its_uuid_in_upper_case()
    {
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(_server, _identity));
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        await agent.WaitParkedAsync();

        var echoed = await ClientTestKit.RoundTripAsync(connector, _identity.Uuid.ToUpperInvariant(), [8]);

        Assert.That(echoed, Is.EqualTo(new byte[] { 8 }));
    }

    private static async Task<long> ReadUntilEndAsync(Stream stream)
    {
        long total = 0;
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TestTimeouts.Short);
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token)) > 0)
            {
                total += read;
            }
        }
        catch (IOException)
        {
        }

        return total;
    }
}
