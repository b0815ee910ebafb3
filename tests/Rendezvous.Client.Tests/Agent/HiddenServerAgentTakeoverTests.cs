using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>
/// Noticing that another hidden server took the UUID over when the relay does not say so: the original's
/// relay leaves a superseded registration's parked connections open (modelled by <see cref="OriginalRelay"/>).
/// </summary>
public sealed class HiddenServerAgentTakeoverTests
{
    private static async Task<(RendezvousTestServer Server, OriginalRelay Relay)> StartAsync()
    {
        var relay = new OriginalRelay();
        try
        {
            var server = await RendezvousTestServer.StartAsync(
                b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object),
                new Dictionary<string, string?> { ["Rendezvous:Registrar:PublicPort"] = relay.Port.ToString(CultureInfo.InvariantCulture) });
            return (server, relay);
        }
        catch
        {
            await relay.DisposeAsync();
            throw;
        }
    }

    /// <summary>Another hidden server registers the UUID, straight at the registrar.</summary>
    private static async Task TakeOverAsync(RendezvousTestServer server, HiddenServerIdentity identity)
    {
        using var registrar = new Rendezvous.Client.Registrar.RegistrarClient(server.RegistrarUrl, ClientTestKit.Pinned(server));
        await registrar.RegisterAsync(identity.Uuid, "123456").WaitAsync(TestTimeouts.Short);
    }

    [Test]
    public async Task Takeover_is_noticed_by_the_periodic_ownership_check_when_the_relay_keeps_the_old_park_open()
    {
        var (server, relay) = await StartAsync();
        await using var _ = server;
        await using var __ = relay;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        using var logs = new LogCapture();
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time, logs: logs);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Parked == 1 && relay.ParkedCount == 1, "parked at the relay");

        await TakeOverAsync(server, identity);
        await Task.Delay(TestTimeouts.Quiet);
        time.Advance(TimeSpan.FromSeconds(59));
        await Task.Delay(TestTimeouts.Quiet);
        var beforeTheCheck = agent.Agent.Status;
        time.Advance(TimeSpan.FromSeconds(1));
        var reason = await agent.Run.WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(beforeTheCheck.State, Is.EqualTo(HiddenServerState.Registered), "the old park stayed open, so nothing else told the agent");
            Assert.That(reason, Is.EqualTo(HiddenServerStopReason.Superseded));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Superseded));
            Assert.That(agent.Agent.Status.LastError, Is.EqualTo($"{identity.Uuid} was registered by another hidden server; stepping back."));
            Assert.That(logs.Records.Select(r => r.EventId.Name), Does.Contain("Superseded"));
        });
    }

    [Test]
    public async Task Takeover_is_noticed_at_once_when_the_parked_connection_is_reset()
    {
        var (server, relay) = await StartAsync();
        await using var _ = server;
        await using var __ = relay;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Parked == 1 && relay.ParkedCount == 1, "parked at the relay");

        await TakeOverAsync(server, identity);
        relay.ResetAll();

        // No fake time passes: the reset alone makes the agent look the UUID up.
        var reason = await agent.Run.WaitAsync(TestTimeouts.Short);
        Assert.That(reason, Is.EqualTo(HiddenServerStopReason.Superseded));
    }

    [Test]
    public async Task Ownership_check_that_finds_the_registration_still_ours_changes_nothing()
    {
        var (server, relay) = await StartAsync();
        await using var _ = server;
        await using var __ = relay;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Parked == 1 && relay.ParkedCount == 1, "parked at the relay");
        var changes = 0;
        agent.Agent.StatusChanged += (_, _) => Interlocked.Increment(ref changes);

        for (var check = 0; check < 3; check++)
        {
            time.Advance(TimeSpan.FromSeconds(60));
            await Task.Delay(TestTimeouts.Quiet);
        }

        Assert.Multiple(() =>
        {
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
            Assert.That(Volatile.Read(ref changes), Is.Zero, "no churn");
            Assert.That(agent.Run.IsCompleted, Is.False);
        });
    }
}
