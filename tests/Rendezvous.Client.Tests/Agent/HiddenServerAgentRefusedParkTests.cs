using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>A relay that refuses a parked connection with an <c>-ERR</c> line the agent does not act on: the status says what it answered, control characters escaped.</summary>
public sealed class HiddenServerAgentRefusedParkTests
{
    [Test]
    public async Task A_refused_park_is_reported_in_the_status_with_the_relays_answer()
    {
        await using var relay = LocalTcpService.Answering("-ERR timeout\u0007\n"u8.ToArray());
        await using var server = await RendezvousTestServer.StartAsync(
            b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object),
            new Dictionary<string, string?> { ["Rendezvous:Registrar:PublicPort"] = relay.Port.ToString(CultureInfo.InvariantCulture) });
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);

        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.LastError is not null, "the refusal reaches the status");

        Assert.Multiple(() =>
        {
            Assert.That(agent.Agent.Status.LastError, Is.EqualTo($"The relay at 127.0.0.1:{relay.Port} refused the parked connection: it answered '-ERR timeout\\x07'."));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
        });
    }
}
