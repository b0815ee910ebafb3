using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Registrar;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

public sealed class AgentSmokeTests
{
    [Test]
    public async Task Agent_serves_an_echo_that_a_connector_reaches_by_uuid()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        var uuid = Guid.NewGuid().ToString();
        var secret = KeyGeneration.GenerateRandomKey(20);
        await SqliteSecretStore.ForDataDirectory(server.DataDirectory).AddAsync(new SecretEntry(uuid, secret, 30, 6, DateTimeOffset.UtcNow));

        var trust = new RegistrarTrust { PinnedFingerprint = server.CertificateFingerprint };
        using var agent = new HiddenServerAgent(
            new HiddenServerAgentOptions { RegistrarUrl = server.RegistrarUrl, Trust = trust, Uuid = uuid, Secret = Base32Encoding.ToString(secret) },
            async (session, ct) =>
            {
                var buffer = new byte[1024];
                int read;
                while ((read = await session.Stream.ReadAsync(buffer, ct)) > 0)
                {
                    await session.Stream.WriteAsync(buffer.AsMemory(0, read), ct);
                }

                await session.CompleteSendingAsync();
            });
        using var stop = new CancellationTokenSource();
        var running = agent.RunAsync(stop.Token);

        using var connector = new RendezvousConnector(new RendezvousConnectorOptions { RegistrarUrl = server.RegistrarUrl, Trust = trust });
        await ClientTestKit.WaitUntilAsync(() => agent.Status.Parked >= 1, "the agent has parked");
        await using (var session = await connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short))
        {
            await session.Stream.WriteAsync(Encoding.ASCII.GetBytes("ping"));
            await session.CompleteSendingAsync();
            using var reader = new StreamReader(session.Stream);
            Assert.That(await reader.ReadToEndAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("ping"));
        }

        await stop.CancelAsync();
        Assert.That(await running.WaitAsync(TestTimeouts.Short), Is.EqualTo(HiddenServerStopReason.Stopped));
    }
}
