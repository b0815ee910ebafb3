using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
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
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
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
        await Task.Delay(TestTimeouts.Quiet);
        var before = proxy.Accepted;

        time.Advance(TimeSpan.FromSeconds(59));
        await Task.Delay(TestTimeouts.Quiet);
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
        using var data = new TemporaryDirectory();
        var settings = new Dictionary<string, string?>
        {
            ["Rendezvous:RegistrarUrl"] = $"https://127.0.0.1:{ClientTestKit.FreePort()}",
            ["Rendezvous:RendezvousEndpoint"] = $"127.0.0.1:{ClientTestKit.FreePort()}",
            ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "2",
        };
        var first = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), settings, dataDirectory: data.Path);
        HiddenServerIdentity identity;
        try
        {
            identity = await ClientTestKit.ProvisionAsync(first);
        }
        catch
        {
            await first.DisposeAsync();
            throw;
        }

        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(first, identity, poolSize: 2));
        await ClientTestKit.WaitUntilAsync(() => first.Broker.ParkedCount == 2, "two parked");
        await first.DisposeAsync();

        await using var second = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), settings, dataDirectory: data.Path);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 2 && second.Broker.ParkedCount >= 1, "registered again", TimeSpan.FromSeconds(5));
        await Task.Delay(TimeSpan.FromSeconds(1));

        Assert.Multiple(() =>
        {
            Assert.That(second.Broker.ParkedCount, Is.EqualTo(2), "the pool shrank across the restart");
            Assert.That(agent.Agent.Status.Parked, Is.EqualTo(2));
        });
    }
}
