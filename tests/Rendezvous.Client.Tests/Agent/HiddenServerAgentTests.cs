using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Sessions;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>The hidden-server agent against a real registrar (TOTP) and relay: serving, pooling, recovery, supersede.</summary>
public sealed class HiddenServerAgentTests
{
    private static async Task<RendezvousTestServer> StartTotpServerAsync(IDictionary<string, string?>? settings = null, string? dataDirectory = null) =>
        await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), settings, dataDirectory: dataDirectory);

    [Test]
    public async Task Serves_a_session_and_parks_a_replacement_at_once()
    {
        await using var server = await StartTotpServerAsync();
        var identity = await ClientTestKit.ProvisionAsync(server);
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity, poolSize: 1));
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        await agent.WaitParkedAsync();

        // The first session stays open while the second one connects: the agent parked a replacement.
        await using var first = await connector.ConnectAsync(identity.Uuid).WaitAsync(TestTimeouts.Short);
        await first.Stream.WriteAsync(Encoding.ASCII.GetBytes("one"));
        Assert.That(await ClientTestKit.ReadExactlyAsync(first.Stream, 3), Is.EqualTo(Encoding.ASCII.GetBytes("one")));
        var second = await ClientTestKit.RoundTripAsync(connector, identity.Uuid, Encoding.ASCII.GetBytes("two"));
        var firstRest = await ClientTestKit.RoundTripAsync(first, Encoding.ASCII.GetBytes("!"));

        Assert.Multiple(() =>
        {
            Assert.That(Encoding.ASCII.GetString(second), Is.EqualTo("two"));
            Assert.That(Encoding.ASCII.GetString(firstRest), Is.EqualTo("!"));
            Assert.That(agent.Agent.Status.TotalSessions, Is.EqualTo(2));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Status_changes_are_reported_from_registering_to_registered_to_stopped()
    {
        await using var server = await StartTotpServerAsync();
        var identity = await ClientTestKit.ProvisionAsync(server);
        using var agent = new HiddenServerAgent(ClientTestKit.AgentOptions(server, identity), ClientTestKit.EchoAsync);
        var states = new ConcurrentQueue<HiddenServerState>();
        agent.StatusChanged += (_, status) => states.Enqueue(status.State);
        using var stop = new CancellationTokenSource();
        Assert.That(agent.Status.State, Is.EqualTo(HiddenServerState.Starting));

        var running = agent.RunAsync(stop.Token);
        await ClientTestKit.WaitUntilAsync(() => agent.Status.Parked == 1, "parked");
        var registered = agent.Status;
        await stop.CancelAsync();
        var reason = await running.WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(reason, Is.EqualTo(HiddenServerStopReason.Stopped));
            Assert.That(registered.State, Is.EqualTo(HiddenServerState.Registered));
            Assert.That(registered.LastRegistration, Is.Not.Null);
            Assert.That(registered.LastError, Is.Null);
            Assert.That(agent.Status.State, Is.EqualTo(HiddenServerState.Stopped));
            Assert.That(agent.Status.Parked, Is.Zero);
            Assert.That(states.Distinct(), Is.EqualTo(new[] { HiddenServerState.Registering, HiddenServerState.Registered, HiddenServerState.Stopped }));
        });
    }

    [Test]
    public async Task Keeps_two_parked_when_the_relay_keeps_two()
    {
        // The agent's backoffs, re-parks and ownership checks run on the fake clock: churn would need it to move.
        var time = new TimerWatchingTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartTotpServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "2" });
        var identity = await ClientTestKit.ProvisionAsync(server);
        using var logs = new LogCapture();
        var options = ClientTestKit.AgentOptions(server, identity, poolSize: 2);
        await using var agent = RunningAgent.Start(options, time: time, logs: logs);

        await agent.WaitQuietAsync(time, options, 2, () => server);
        var held = await agent.HoldsStillAsync(time, options, 2, () => server);

        Assert.Multiple(() =>
        {
            Assert.That(held, Is.GreaterThan(TimeSpan.FromSeconds(50)), "no churn for this long (fake time)");
            Assert.That(agent.Agent.Status.Parked, Is.EqualTo(2));
            Assert.That(server.Broker.ParkedCount, Is.EqualTo(2));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
            Assert.That(logs.Records.Where(r => r.EventId.Name is "PoolReduced" or "ParkFailed"), Is.Empty);
        });
    }

    [Test]
    public async Task Reduces_its_pool_to_what_the_relay_keeps_and_stops_churning()
    {
        // The agent's backoffs run on the fake clock: the test fires each one and then sees the agent quiet.
        var time = new TimerWatchingTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartTotpServerAsync();
        var identity = await ClientTestKit.ProvisionAsync(server);
        using var logs = new LogCapture();
        var options = ClientTestKit.AgentOptions(server, identity, poolSize: 2);
        await using var agent = RunningAgent.Start(options, time: time, logs: logs);

        await ClientTestKit.WaitUntilAsync(() => logs.Records.Any(r => r.EventId.Name == "PoolReduced"), "the agent reduces its pool");
        await agent.WaitQuietAsync(time, options, 1, () => server);
        var parkedBefore = server.Broker.ParkedCount;
        var held = await agent.HoldsStillAsync(time, options, 1, () => server);

        Assert.Multiple(() =>
        {
            Assert.That(held, Is.GreaterThan(TimeSpan.FromSeconds(50)), "no churn for this long (fake time): no parked connection comes or goes");
            Assert.That(agent.Agent.Status.Parked, Is.EqualTo(1));
            Assert.That(parkedBefore, Is.EqualTo(1));
            Assert.That(server.Broker.ParkedCount, Is.EqualTo(1));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
            Assert.That(logs.Records.Single(r => r.EventId.Name == "PoolReduced").Level, Is.EqualTo(LogLevel.Warning));
        });
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        Assert.That(await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [1, 2, 3]), Is.EqualTo(new byte[] { 1, 2, 3 }));
    }

    [Test]
    public async Task Registers_again_and_serves_after_a_server_restart()
    {
        // How soon, in every TOTP window, is HiddenServerAgentRecoveryTests' part; this one serves across it.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await RestartableServer.StartAsync(b => b.AddTotpSecurity(), time);
        var identity = await ClientTestKit.ProvisionAsync(server.Running, time.GetUtcNow());
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server.Running, identity), time: time);
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server.Running));
        await agent.WaitParkedAsync();
        Assert.That(await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [1]), Is.EqualTo(new byte[] { 1 }));
        await server.StopAsync();
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Parked == 0, "the agent notices the relay is gone");

        await server.StartAgainAsync();
        await ClientTestKit.AdvanceUntilAsync(time, () => agent.Agent.Status.Registrations == 2 && agent.Agent.Status.Parked == 1, TimeSpan.FromSeconds(40), "the agent registers again and parks", () => agent.Agent.Status.NextAttempt);
        var echoed = await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [2]);

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo(new byte[] { 2 }));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
        });
    }

    [Test]
    public async Task A_second_agent_for_the_same_uuid_takes_over_and_the_first_stops_superseded()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), time: time);
        var identity = await ClientTestKit.ProvisionAsync(server, time.GetUtcNow());
        var served = new ConcurrentQueue<string>();
        Func<RendezvousSession, CancellationToken, Task> Tagged(string name) => (session, ct) =>
        {
            served.Enqueue(name);
            return ClientTestKit.EchoAsync(session, ct);
        };
        await using var firstAgent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), Tagged("first"), time);

        // Parked at the relay, not only sent: the relay's first-line timeout runs on this fake clock, so
        // advancing it while the relay has yet to read the line would answer the park "-ERR timeout".
        await ClientTestKit.WaitUntilAsync(() => firstAgent.Agent.Status.Parked == 1 && server.Broker.ParkedCount == 1, "the relay parked the first agent's connection");

        // In a later TOTP step: our registrar accepts each step's code once.
        time.Advance(TimeSpan.FromSeconds(30));
        await using var secondAgent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), Tagged("second"), time);
        var reason = await firstAgent.Run.WaitAsync(TestTimeouts.Short);
        await secondAgent.WaitParkedAsync();
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        var echoed = await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [7]);

        Assert.Multiple(() =>
        {
            Assert.That(reason, Is.EqualTo(HiddenServerStopReason.Superseded));
            Assert.That(firstAgent.Agent.Status.State, Is.EqualTo(HiddenServerState.Superseded));
            Assert.That(firstAgent.Agent.Status.LastError, Does.Contain(identity.Uuid));
            Assert.That(echoed, Is.EqualTo(new byte[] { 7 }));
            Assert.That(served, Is.EqualTo(new[] { "second" }));
            Assert.That(secondAgent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
            Assert.That(secondAgent.Run.IsCompleted, Is.False);
        });
    }

    [Test]
    public async Task Registrar_pin_mismatch_is_permanent_and_not_retried()
    {
        await using var server = await StartTotpServerAsync();
        var identity = await ClientTestKit.ProvisionAsync(server);
        await using var registrarProxy = new CapturingTcpProxy(new IPEndPoint(IPAddress.Loopback, server.RegistrarUrl.Port));
        using var other = RegistrarCertificates.CreateSelfSigned("other", ["127.0.0.1"], TimeSpan.FromDays(1));
        var options = ClientTestKit.AgentOptions(server, identity);
        options.RegistrarUrl = new Uri($"https://127.0.0.1:{registrarProxy.EndPoint.Port}/");
        options.Trust = new Rendezvous.Client.Registrar.RegistrarTrust { PinnedFingerprint = RegistrarCertificates.GetSha256Fingerprint(other) };
        using var agent = new HiddenServerAgent(options, ClientTestKit.EchoAsync);
        var started = DateTime.UtcNow;

        var ex = Assert.ThrowsAsync<CertificatePinMismatchException>(() => agent.RunAsync().WaitAsync(TestTimeouts.Short));
        var elapsed = DateTime.UtcNow - started;

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Permanent, Is.True);
            Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(3)));
            Assert.That(registrarProxy.Accepted, Is.LessThanOrEqualTo(1));
            Assert.That(agent.Status.State, Is.EqualTo(HiddenServerState.Failed));
            Assert.That(agent.Status.LastError, Does.Contain(ex.Presented));
        });
    }

    [Test]
    public async Task Superseded_agent_reports_it_at_once_and_lets_its_running_session_finish()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), time: time);
        var identity = await ClientTestKit.ProvisionAsync(server, time.GetUtcNow());
        await using var firstAgent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        await firstAgent.WaitParkedAsync();
        await using var session = await connector.ConnectAsync(identity.Uuid).WaitAsync(TestTimeouts.Short);
        await ClientTestKit.WaitUntilAsync(() => firstAgent.Agent.Status.ActiveSessions == 1, "the session is active");

        // The replacement is parked at the relay before the fake clock jumps past the relay's first-line timeout.
        await ClientTestKit.WaitUntilAsync(() => firstAgent.Agent.Status.Parked == 1 && server.Broker.ParkedCount == 1, "the relay parked the replacement");
        time.Advance(TimeSpan.FromSeconds(30));
        await using var secondAgent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await ClientTestKit.WaitUntilAsync(() => firstAgent.Agent.Status.State == HiddenServerState.Superseded, "the first agent steps back");
        var echoed = await ClientTestKit.RoundTripAsync(session, [6, 6]);

        Assert.Multiple(async () =>
        {
            Assert.That(echoed, Is.EqualTo(new byte[] { 6, 6 }), "the spliced session kept running");
            Assert.That(await firstAgent.Run.WaitAsync(TestTimeouts.Short), Is.EqualTo(HiddenServerStopReason.Superseded));
            Assert.That(firstAgent.Agent.Status.ActiveSessions, Is.Zero);
        });
    }

    [Test]
    public async Task Reduces_its_pool_to_exactly_what_the_relay_keeps_when_that_is_more_than_one()
    {
        // The agent's backoffs run on the fake clock: the test fires each one and then sees the agent quiet.
        var time = new TimerWatchingTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartTotpServerAsync(new Dictionary<string, string?> { ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "2" });
        var identity = await ClientTestKit.ProvisionAsync(server);
        using var logs = new LogCapture();
        var options = ClientTestKit.AgentOptions(server, identity, poolSize: 3);
        await using var agent = RunningAgent.Start(options, time: time, logs: logs);
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        await ClientTestKit.WaitUntilAsync(() => logs.Records.Any(r => r.EventId.Name == "PoolReduced"), "the agent reduces its pool");
        await agent.WaitQuietAsync(time, options, 2, () => server);

        // Two clients at once take both parked connections; the agent must park two replacements.
        for (var round = 0; round < 2; round++)
        {
            await ClientTestKit.WaitUntilAsync(() => server.Broker.ParkedCount == 2, "two are parked");
            await using var one = await connector.ConnectAsync(identity.Uuid).WaitAsync(TestTimeouts.Short);
            await using var two = await connector.ConnectAsync(identity.Uuid).WaitAsync(TestTimeouts.Short);
            Assert.That(await ClientTestKit.RoundTripAsync(one, [1]), Is.EqualTo(new byte[] { 1 }));
            Assert.That(await ClientTestKit.RoundTripAsync(two, [2]), Is.EqualTo(new byte[] { 2 }));
        }

        await agent.WaitQuietAsync(time, options, 2, () => server);
        var held = await agent.HoldsStillAsync(time, options, 2, () => server);

        Assert.Multiple(() =>
        {
            Assert.That(server.Broker.ParkedCount, Is.EqualTo(2));
            Assert.That(agent.Agent.Status.Parked, Is.EqualTo(2));
            Assert.That(agent.Agent.Status.TotalSessions, Is.EqualTo(4));
            Assert.That(held, Is.GreaterThan(TimeSpan.FromSeconds(50)), "no churn for this long (fake time)");
            Assert.That(logs.Records.Where(r => r.EventId.Name == "PoolReduced").SelectMany(r => r.Values).Where(v => v.StartsWith("Pool=", StringComparison.Ordinal)), Is.All.EqualTo("Pool=2"), "reduced below what the relay keeps");
        });
    }
}
