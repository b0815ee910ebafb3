using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
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
    /// <summary>A registrar that accepts every code, the original's relay behind it, and an agent (fake clock) parked there.</summary>
    private static async Task<Scene> StartParkedAsync(LogCapture? logs = null)
    {
        var relay = new OriginalRelay();
        RendezvousTestServer? server = null;
        try
        {
            server = await RendezvousTestServer.StartAsync(
                b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object),
                new Dictionary<string, string?> { ["Rendezvous:Registrar:PublicPort"] = relay.Port.ToString(CultureInfo.InvariantCulture) });
            var time = new TimerWatchingTimeProvider(DateTimeOffset.UtcNow);
            var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
            var scene = new Scene(server, relay, time, identity, RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time, logs: logs));
            await ClientTestKit.WaitUntilAsync(() => scene.Agent.Agent.Status.Parked == 1 && relay.ParkedCount == 1, "parked at the relay");
            return scene;
        }
        catch
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }

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
        using var logs = new LogCapture();
        await using var scene = await StartParkedAsync(logs);
        var (server, _, time, identity, agent) = scene;

        var check = await time.WaitForTimerDueAtAsync(time.GetUtcNow() + TimeSpan.FromSeconds(60), "the agent's ownership check timer");
        await TakeOverAsync(server, identity);
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.That(check.Fired, Is.False, "the ownership check came early");
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
        await using var scene = await StartParkedAsync();
        var (server, relay, _, identity, agent) = scene;

        await TakeOverAsync(server, identity);
        relay.ResetAll();

        // No fake time passes: the reset alone makes the agent look the UUID up.
        var reason = await agent.Run.WaitAsync(TestTimeouts.Short);
        Assert.That(reason, Is.EqualTo(HiddenServerStopReason.Superseded));
    }

    [Test]
    public async Task Ownership_check_that_finds_the_registration_still_ours_changes_nothing()
    {
        await using var scene = await StartParkedAsync();
        var (_, _, time, _, agent) = scene;
        var changes = 0;
        agent.Agent.StatusChanged += (_, _) => Interlocked.Increment(ref changes);

        for (var check = 0; check < 3; check++)
        {
            // The check has decided once the agent arms the next one.
            time.Advance(TimeSpan.FromSeconds(60));
            await time.WaitForTimerDueAtAsync(time.GetUtcNow() + TimeSpan.FromSeconds(60), $"the ownership check after check {check + 1}");
        }

        Assert.Multiple(() =>
        {
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
            Assert.That(Volatile.Read(ref changes), Is.Zero, "no churn");
            Assert.That(agent.Run.IsCompleted, Is.False);
        });
    }

    /// <summary>What a test works with; disposing stops the agent, then the server and the relay.</summary>
    private sealed record Scene(RendezvousTestServer Server, OriginalRelay Relay, TimerWatchingTimeProvider Time, HiddenServerIdentity Identity, RunningAgent Agent) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await Agent.DisposeAsync();
                await Server.DisposeAsync();
            }
            finally
            {
                await Relay.DisposeAsync();
            }
        }
    }
}
