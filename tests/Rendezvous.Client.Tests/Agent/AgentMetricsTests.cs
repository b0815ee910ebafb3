using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Registrar;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

public sealed class AgentMetricsTests
{
    [Test]
    public async Task Parked_connections_and_registrations_are_published_in_the_client_meter()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        var uuid = Guid.NewGuid().ToString();
        var secret = KeyGeneration.GenerateRandomKey(20);
        await SqliteSecretStore.ForDataDirectory(server.DataDirectory).AddAsync(new SecretEntry(uuid, secret, 30, 6, DateTimeOffset.UtcNow));
        using var agent = new HiddenServerAgent(
            new HiddenServerAgentOptions
            {
                RegistrarUrl = server.RegistrarUrl,
                Trust = new RegistrarTrust { PinnedFingerprint = server.CertificateFingerprint },
                Uuid = uuid,
                Secret = Base32Encoding.ToString(secret),
                PoolSize = 1,
            },
            (_, _) => Task.CompletedTask);
        using var stop = new CancellationTokenSource();
        var running = agent.RunAsync(stop.Token);

        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Rendezvous.Client")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        listener.Start();

        using var deadline = new CancellationTokenSource(TestTimeouts.Short);
        while (!(seen.GetValueOrDefault("rendezvous.agent.parked") >= 1 && seen.GetValueOrDefault("rendezvous.agent.registrations") >= 1))
        {
            listener.RecordObservableInstruments();
            await Task.Delay(20, deadline.Token);
        }

        Assert.That(seen.GetValueOrDefault("rendezvous.agent.registered"), Is.EqualTo(1));
        await stop.CancelAsync();
        await running.WaitAsync(TestTimeouts.Short);

        void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "uuid" && Equals(tag.Value, uuid))
                {
                    lock (seen)
                    {
                        seen[instrument.Name] = value;
                    }
                }
            }
        }
    }
}
