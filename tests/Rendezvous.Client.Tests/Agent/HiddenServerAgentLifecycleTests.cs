using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Moq;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>Stopping, re-parking, and coming back with the whole pool.</summary>
public sealed class HiddenServerAgentLifecycleTests
{
    [Test]
    public async Task Stopping_cancels_active_sessions_and_waits_for_them()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        var identity = await ClientTestKit.ProvisionAsync(server);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), async (session, ct) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                cancelled.TrySetResult();
            }
        });
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        await agent.WaitParkedAsync();
        await using var session = await connector.ConnectAsync(identity.Uuid).WaitAsync(TestTimeouts.Short);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.ActiveSessions == 1, "the session is active");

        var reason = await agent.StopAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(reason, Is.EqualTo(HiddenServerStopReason.Stopped));
            Assert.That(cancelled.Task.IsCompleted, Is.True, "the handler was cancelled before RunAsync returned");
            Assert.That(agent.Agent.Status.ActiveSessions, Is.Zero);
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Stopped));
            Assert.That(await ClientTestKit.ReadToEndAsync(session.Stream), Is.Empty, "the client sees the session end");
        });
    }

    [Test]
    public async Task Stopping_while_waiting_to_retry_returns_at_once()
    {
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(ValueTask.FromResult(RegistrationDecision.Throttle(TimeSpan.FromMinutes(5))));
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy.Object));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity));
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.LastError is not null, "the agent is throttled");

        var reason = await agent.StopAsync();

        Assert.That(reason, Is.EqualTo(HiddenServerStopReason.Stopped));
    }

    [Test]
    public async Task Parked_connection_is_replaced_after_the_repark_interval()
    {
        var time = new TimerWatchingTimeProvider(DateTimeOffset.UtcNow);
        await using var proxy = new CapturingTcpProxy();
        await using var server = await RendezvousTestServer.StartAsync(
            b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object),
            new Dictionary<string, string?> { ["Rendezvous:Registrar:PublicPort"] = proxy.EndPoint.Port.ToString(CultureInfo.InvariantCulture) });
        proxy.Target = server.RelayEndPoint;
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        var options = ClientTestKit.AgentOptions(server, identity);
        options.ReparkInterval = TimeSpan.FromMinutes(1);
        await using var agent = RunningAgent.Start(options, time: time);
        await ClientTestKit.WaitUntilAsync(() => server.Broker.ParkedCount == 1, "parked");
        var repark = await time.WaitForTimerDueAtAsync(time.GetUtcNow() + options.ReparkInterval, "the parked connection's repark timer");
        var before = proxy.Accepted;

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.That(repark.Fired, Is.False, "the repark timer fired early");
        var beforeInterval = proxy.Accepted;
        time.Advance(TimeSpan.FromSeconds(1));
        await ClientTestKit.WaitUntilAsync(() => proxy.Accepted == before + 1 && server.Broker.ParkedCount == 1, "a fresh connection is parked");
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        var echoed = await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [3]);

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo(1));
            Assert.That(beforeInterval, Is.EqualTo(1), "re-parked before the interval");
            Assert.That(echoed, Is.EqualTo(new byte[] { 3 }));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Comes_back_with_its_whole_pool_after_a_server_restart()
    {
        var time = new TimerWatchingTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await RestartableServer.StartAsync(b => b.AddTotpSecurity(), time, new Dictionary<string, string?> { ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "2" });
        var identity = await ClientTestKit.ProvisionAsync(server.Running, time.GetUtcNow());
        var options = ClientTestKit.AgentOptions(server.Running, identity, poolSize: 2);
        await using var agent = RunningAgent.Start(options, time: time);
        await ClientTestKit.WaitUntilAsync(() => server.Running.Broker.ParkedCount == 2, "two parked");
        await server.StopAsync();
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Parked == 0, "the agent notices the relay is gone");

        await server.StartAgainAsync();
        await ClientTestKit.AdvanceUntilAsync(time, () => agent.Agent.Status.Registrations == 2 && server.Running.Broker.ParkedCount == 2, TimeSpan.FromSeconds(40), "registered again with both parked", () => agent.Agent.Status.NextAttempt);

        // Parks that ended with the old relay left no backoff to account for: the quiet check does not count them.
        await agent.WaitQuietAsync(time, options, 2, () => server.Running, everyParkAccountedFor: false);
        var held = await agent.HoldsStillAsync(time, options, 2, () => server.Running);

        Assert.Multiple(() =>
        {
            Assert.That(held, Is.GreaterThan(TimeSpan.FromSeconds(30)), "both stayed parked this long (fake time)");
            Assert.That(server.Running.Broker.ParkedCount, Is.EqualTo(2), "the pool shrank across the restart");
            Assert.That(agent.Agent.Status.Parked, Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Agent_started_before_the_server_registers_within_seconds_of_it_coming_up()
    {
        // A 300 s TOTP step, so that waiting for the next step would show; not within 15 s of a step boundary.
        const int step = 300;
        await ClientTestKit.WaitUntilAsync(
            () => DateTimeOffset.UtcNow.ToUnixTimeSeconds() % step is > 2 and < step - 15,
            "a moment well inside a TOTP step",
            TimeSpan.FromSeconds(20));
        using var data = new TemporaryDirectory();
        var registrarPort = ClientTestKit.FreePort();
        var settings = new Dictionary<string, string?>
        {
            ["Rendezvous:RegistrarUrl"] = $"https://127.0.0.1:{registrarPort}",
            ["Rendezvous:RendezvousEndpoint"] = $"127.0.0.1:{ClientTestKit.FreePort()}",
        };
        using var certificate = Rendezvous.Server.Certificates.RegistrarCertificates.LoadOrCreate(data.Path, ["127.0.0.1"]).Certificate;
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await Rendezvous.Security.SqliteSecretStore.ForDataDirectory(data.Path)
            .AddAsync(new Rendezvous.Security.SecretEntry(identity.Uuid, identity.Secret, step, 6, DateTimeOffset.UtcNow))
            .WaitAsync(TestTimeouts.Short);
        var options = new Rendezvous.Client.Agent.HiddenServerAgentOptions
        {
            RegistrarUrl = new Uri($"https://127.0.0.1:{registrarPort}/"),
            Trust = new Rendezvous.Client.Registrar.RegistrarTrust { PinnedFingerprint = Rendezvous.Server.Certificates.RegistrarCertificates.GetSha256Fingerprint(certificate) },
            Uuid = identity.Uuid,
            Secret = identity.Base32Secret,
            Step = step,
            PoolSize = 1,
            InitialBackoff = TimeSpan.FromMilliseconds(50),
            MaxBackoff = TimeSpan.FromMilliseconds(500),
        };
        using var logs = new LogCapture();
        await using var agent = RunningAgent.Start(options, logs: logs);
        await ClientTestKit.WaitUntilAsync(() => logs.Records.Count(r => r.EventId.Name == "RegistrationFailed") >= 2, "the agent failed to reach the registrar twice");
        await Task.Delay(TimeSpan.FromSeconds(1));

        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), settings, dataDirectory: data.Path);
        var started = DateTime.UtcNow;
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 1 && agent.Agent.Status.Parked == 1, "the agent registers and parks", TimeSpan.FromSeconds(10));

        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(5)));
    }
}
