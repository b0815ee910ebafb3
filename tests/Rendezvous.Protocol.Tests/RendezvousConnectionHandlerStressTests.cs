using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests;

/// <summary>
/// Several threads open hidden-server (<c>R</c>) and mobile-client (<c>I</c>) connections through one handler at once,
/// re-registering now and then, each paired pair running a short session; once everything is closed, the number of
/// initiators and responders told <c>+OK</c> must agree, and nothing may be held: no parked connection, no session
/// counted against an address, and the <c>rendezvous.parked</c> and <c>rendezvous.sessions.active</c> gauges back at zero.
/// </summary>
public sealed class RendezvousConnectionHandlerStressTests
{
    private const int Threads = 6;
    private const int ConnectionsPerThread = 250;
    private static readonly string[] Uuids = ["uuid-0", "uuid-1"];

    [Test]
    public async Task Concurrent_parks_initiates_sessions_and_reregistrations_leave_no_park_no_session_count_and_gauges_at_zero()
    {
        var options = TestOptionsMonitor.Create(new RendezvousRelayOptions
        {
            InitiatorGracePeriod = TimeSpan.FromMilliseconds(20),
            ParkedConnectionsPerCookie = 4,
            MaxSessionsPerAddressPerUuid = 4,
        });
        var broker = new RendezvousBroker(options, TimeProvider.System);
        using var meters = new OwnMeterFactory();
        using var metrics = new RendezvousMetrics(meters);
        using var gauges = new GaugeListener(meters);
        var handler = new RendezvousConnectionHandler(broker, options, TimeProvider.System, metrics);
        var cookies = Uuids.Select(broker.Register).ToArray();
        var responders = new ConcurrentBag<(PipeRelayConnection Connection, Task Handling, Task<bool> Peer)>();
        var initiators = new ConcurrentBag<(Task Handling, Task<bool> Peer)>();
        var refusals = new ConcurrentDictionary<string, int>();
        using var start = new ManualResetEventSlim();

        var workers = Enumerable.Range(0, Threads).Select(seed => Task.Run(async () =>
        {
            var random = new Random(seed);
            start.Wait(TestTimeouts.Short);
            for (var i = 0; i < ConnectionsPerThread; i++)
            {
                var u = random.Next(Uuids.Length);
                var roll = random.Next(100);
                if (roll < 3)
                {
                    Volatile.Write(ref cookies[u], broker.Register(Uuids[u]));
                    continue;
                }

                var responderValue = Volatile.Read(ref cookies[u]);
                var from = new IPEndPoint(IPAddress.Parse($"192.0.2.{1 + random.Next(3)}"), 40000 + i);
                var connection = new PipeRelayConnection(remoteEndPoint: from);
                if (roll < 50)
                {
                    await connection.SendAsync($"R{responderValue}\n");
                    responders.Add((connection, handler.HandleAsync(connection), PlayPeerAsync(connection, refusals)));
                }
                else
                {
                    await connection.SendAsync($"I{RendezvousCookies.InitiatorValueFor(responderValue)}\nhello");
                    var initiator = (Handling: handler.HandleAsync(connection), Peer: PlayPeerAsync(connection, refusals));
                    initiators.Add(initiator);

                    // Most clients wait for their session to end before the next; the others pile up (and meet the cap).
                    if (random.Next(4) != 0)
                    {
                        await initiator.Peer.WaitAsync(TestTimeouts.Long);
                    }
                }
            }
        })).ToList();
        start.Set();
        await Task.WhenAll(workers).WaitAsync(TestTimeouts.Long);
        await Task.WhenAll(initiators.Select(i => i.Handling)).WaitAsync(TestTimeouts.Long);

        // Every initiator is done: the responders still parked leave.
        foreach (var (connection, handling, _) in responders.Where(r => !r.Handling.IsCompleted))
        {
            connection.CompleteSending();
        }

        await Task.WhenAll(responders.Select(r => r.Handling)).WaitAsync(TestTimeouts.Long);
        var initiatorsPaired = (await Task.WhenAll(initiators.Select(i => i.Peer)).WaitAsync(TestTimeouts.Long)).Count(paired => paired);
        var respondersPaired = (await Task.WhenAll(responders.Select(r => r.Peer)).WaitAsync(TestTimeouts.Long)).Count(paired => paired);
        foreach (var (connection, _, _) in responders)
        {
            await connection.DisposeAsync();
        }

        TestContext.Out.WriteLine($"{initiators.Count} initiators, {responders.Count} responders, {initiatorsPaired} sessions; refused: " +
            string.Join(", ", refusals.OrderBy(r => r.Key).Select(r => $"{r.Key.TrimEnd('\n')} {r.Value}")));
        Assert.Multiple(() =>
        {
            Assert.That(initiatorsPaired, Is.GreaterThan(50), "enough sessions to mean something");
            Assert.That(respondersPaired, Is.EqualTo(initiatorsPaired), "every +OK to an initiator went with one to a responder");
            Assert.That(broker.ParkedCount, Is.Zero);
            Assert.That(handler.SessionSourceCount, Is.Zero, "no session counted against an address");
            Assert.That(gauges.Sum("rendezvous.parked"), Is.Zero);
            Assert.That(gauges.Sum("rendezvous.sessions.active"), Is.Zero);
        });
    }

    /// <summary>
    /// The remote peer: reads the answer; after <c>+OK</c> it ends its side and reads to the end, so the session ends
    /// once both peers did. A refusal is counted.
    /// </summary>
    /// <returns>Whether it was told <c>+OK</c>.</returns>
    private static async Task<bool> PlayPeerAsync(PipeRelayConnection connection, ConcurrentDictionary<string, int> refusals)
    {
        var answer = new StringBuilder();
        var ended = false;
        try
        {
            while (true)
            {
                var result = await connection.PeerReader.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    answer.Append(Encoding.ASCII.GetString(segment.Span));
                }

                connection.PeerReader.AdvanceTo(result.Buffer.End);
                if (!ended && answer.ToString().StartsWith("+OK\n", StringComparison.Ordinal))
                {
                    connection.CompleteSending();
                    ended = true;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException && connection.WasAborted)
        {
            // A reset (Abort) ends the peer's reading too.
        }

        var text = answer.ToString();
        if (!text.StartsWith("+OK\n", StringComparison.Ordinal) && text.Length > 0)
        {
            refusals.AddOrUpdate(text, 1, (_, n) => n + 1);
        }

        return text.StartsWith("+OK\n", StringComparison.Ordinal);
    }

    /// <summary>Creates meters that only this test's listener listens to.</summary>
    private sealed class OwnMeterFactory : IMeterFactory
    {
        private readonly ConcurrentBag<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in _meters)
            {
                meter.Dispose();
            }
        }
    }

    /// <summary>Sums the up-down counters of one meter factory's meters by instrument name.</summary>
    private sealed class GaugeListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _sums = new();

        public GaugeListener(IMeterFactory factory)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _sums.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
            _listener.Start();
        }

        public long Sum(string name) => _sums.GetValueOrDefault(name);

        public void Dispose() => _listener.Dispose();
    }
}
