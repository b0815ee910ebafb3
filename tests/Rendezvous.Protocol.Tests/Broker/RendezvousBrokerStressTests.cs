using System.Collections.Concurrent;
using System.Diagnostics;
using Rendezvous.Protocol.Broker;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Broker;

/// <summary>
/// Several threads register, re-register, unregister, park, initiate and unpark against one broker at once, for a
/// bounded number of steps; then every pairing must join one parked connection with one initiator of the same
/// registration, no parked connection may be handed out twice, every parked connection's wait must have ended the way
/// the pairings say, and nothing may be held once everything is closed.
/// </summary>
public sealed class RendezvousBrokerStressTests
{
    private const int Threads = 8;
    private const int StepsPerThread = 4_000;
    private static readonly string[] Uuids = ["uuid-0", "uuid-1"];

    [Test]
    public async Task Concurrent_register_park_initiate_and_unpark_pair_each_park_at_most_once_within_its_registration_and_leave_nothing_held()
    {
        // The real clock and a short grace: initiators that wait are paired by parks on other threads, or time out.
        var options = TestOptionsMonitor.Create(new RendezvousRelayOptions
        {
            InitiatorGracePeriod = TimeSpan.FromMilliseconds(2),
            ParkedConnectionsPerCookie = 3,
        });
        var broker = new RendezvousBroker(options, TimeProvider.System);
        var responderValues = new string?[Uuids.Length];
        var issued = new ConcurrentDictionary<string, string>(StringComparer.Ordinal); // R value -> UUID
        var parkedWith = new ConcurrentDictionary<ParkedResponder, string>(); // parked responder -> its R value
        var pairedTo = new ConcurrentDictionary<ParkedResponder, string>(); // paired responder -> the initiator's I value
        var open = new ConcurrentStack<ParkedResponder>();
        var counts = new ConcurrentDictionary<string, int>();
        using var start = new ManualResetEventSlim();
        var elapsed = Stopwatch.StartNew();

        var workers = Enumerable.Range(0, Threads).Select(seed => Task.Run(async () =>
        {
            var random = new Random(seed);
            start.Wait(TestTimeouts.Short);
            for (var i = 0; i < StepsPerThread; i++)
            {
                var u = random.Next(Uuids.Length);
                var roll = random.Next(100);
                if (roll < 5)
                {
                    var cookie = broker.Register(Uuids[u]);
                    issued[cookie] = Uuids[u];
                    Volatile.Write(ref responderValues[u], cookie);
                    counts.AddOrUpdate("register", 1, (_, n) => n + 1);
                }
                else if (roll < 6)
                {
                    broker.Unregister(Uuids[u]);
                    counts.AddOrUpdate("unregister", 1, (_, n) => n + 1);
                }
                else if (roll < 45)
                {
                    var cookie = Volatile.Read(ref responderValues[u]) ?? "never-issued";
                    var responder = new ParkedResponder(new PipeRelayConnection());
                    if (broker.Park(cookie, responder) == ParkStatus.Parked)
                    {
                        Assert.That(parkedWith.TryAdd(responder, cookie), Is.True);
                        open.Push(responder);
                        counts.AddOrUpdate("parked", 1, (_, n) => n + 1);
                    }
                }
                else if (roll < 75)
                {
                    var cookie = Volatile.Read(ref responderValues[u]) is { } current ? RendezvousCookies.InitiatorValueFor(current) : "never-issued";
                    var result = await broker.InitiateAsync(cookie);
                    counts.AddOrUpdate(result.Status.ToString(), 1, (_, n) => n + 1);
                    if (result.Responder is { } paired)
                    {
                        Assert.That(pairedTo.TryAdd(paired, cookie), Is.True, "a parked connection was handed to two initiators");
                    }
                }
                else if (open.TryPop(out var leaving))
                {
                    broker.Unpark(leaving);
                    counts.AddOrUpdate("unpark", 1, (_, n) => n + 1);
                }
            }
        })).ToList();
        start.Set();
        await Task.WhenAll(workers).WaitAsync(TestTimeouts.Long);
        var running = elapsed.Elapsed;

        foreach (var uuid in Uuids)
        {
            broker.Unregister(uuid);
        }

        TestContext.Out.WriteLine($"{Threads} threads x {StepsPerThread} steps in {running.TotalMilliseconds:F0} ms: " +
            string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key} {c.Value}")));
        Assert.Multiple(() =>
        {
            Assert.That(counts.GetValueOrDefault("Paired"), Is.GreaterThan(100), "the run paired enough to mean something");
            Assert.That(counts.GetValueOrDefault("NotReady"), Is.GreaterThan(0), "some initiators waited in vain");
            Assert.That(broker.ParkedCount, Is.Zero, "nothing is parked once every UUID is unregistered");
            Assert.That(broker.RegistrationCount, Is.Zero);
            Assert.That(Uuids.Select(broker.GetState), Is.All.EqualTo((false, 0)));
        });

        foreach (var (responder, cookie) in pairedTo)
        {
            Assert.That(parkedWith.TryGetValue(responder, out var parkedCookie), Is.True, "only a parked connection is paired");
            Assert.That(RendezvousCookies.InitiatorValueFor(parkedCookie!), Is.EqualTo(cookie), "paired within one registration");
        }

        foreach (var (responder, cookie) in parkedWith)
        {
            Assert.That(issued.ContainsKey(cookie), Is.True, "only an issued R value parks");
            Assert.That(responder.Outcome.IsCompleted, Is.True, "every wait ended");
            Assert.That(await responder.Outcome == ParkOutcome.Paired, Is.EqualTo(pairedTo.ContainsKey(responder)), "paired exactly when an initiator got it");
            await responder.Connection.DisposeAsync();
        }
    }
}
