using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Protocol;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>
/// Recognising its own registration in a lookup: the original node-rendezvous hands out the <c>R</c> value,
/// ours the <c>I</c> value derived from it (<see cref="RendezvousCookies.InitiatorValueFor"/>). Takeovers are
/// covered by <see cref="HiddenServerAgentTakeoverTests"/> and <see cref="HiddenServerAgentTests"/>.
/// </summary>
public sealed class HiddenServerAgentOwnershipTests
{
    private const string Responder = "Wq1mV3yT_8rKd0zPxN5bLc2hJ7sGf4aE";

    [Test]
    public void Lookup_value_equal_to_the_r_value_is_ours_as_at_the_original()
    {
        Assert.That(HiddenServerAgent.IsOwnRegistration(Responder, Responder), Is.True);
    }

    [Test]
    public void Lookup_value_derived_from_the_r_value_is_ours_as_at_our_server()
    {
        Assert.That(HiddenServerAgent.IsOwnRegistration(RendezvousCookies.InitiatorValueFor(Responder), Responder), Is.True);
    }

    [TestCase("another-registration-r-value-000")]
    [TestCase("")]
    public void Any_other_lookup_value_is_another_registration(string otherResponder)
    {
        Assert.Multiple(() =>
        {
            Assert.That(HiddenServerAgent.IsOwnRegistration(otherResponder, Responder), Is.False);
            Assert.That(HiddenServerAgent.IsOwnRegistration(RendezvousCookies.InitiatorValueFor(otherResponder), Responder), Is.False);
        });
    }

    [Test]
    public async Task Agent_parked_at_our_server_is_not_superseded_by_its_periodic_ownership_checks()
    {
        using var serverLogs = new LogCapture();
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object), logs: serverLogs);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await agent.WaitParkedAsync();
        int Lookups() => serverLogs.Records.Count(r => r.EventId.Name == "Lookup");
        var before = Lookups();

        // Each check's decision is taken before the next check's lookup, so four lookups prove three decisions.
        // The clock moves one interval at a time; a move made before the agent armed its timer is simply repeated.
        var deadline = DateTime.UtcNow + TestTimeouts.Long;
        for (var seen = before; seen < before + 4 && !agent.Run.IsCompleted; seen = Lookups())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"the agent made {seen - before} of 4 ownership checks");
            time.Advance(TimeSpan.FromSeconds(60));
            var waitUntil = DateTime.UtcNow + TimeSpan.FromSeconds(1);
            while (Lookups() == seen && !agent.Run.IsCompleted && DateTime.UtcNow < waitUntil)
            {
                await Task.Delay(10);
            }
        }

        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        Assert.Multiple(async () =>
        {
            Assert.That(agent.Run.IsCompleted, Is.False, "the agent did not step back");
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
            Assert.That(await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [4, 2]), Is.EqualTo(new byte[] { 4, 2 }));
        });
    }
}
