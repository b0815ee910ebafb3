using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Broker;

public sealed class PoolAdvisorTests
{
    private const string Uuid = "6f1c2d3e-0000-4000-8000-000000000001";
    private const string Other = "6f1c2d3e-0000-4000-8000-000000000002";

    private FakeTimeProvider _time = null!;
    private RendezvousRelayOptions _options = null!;
    private RendezvousBroker _broker = null!;
    private RendezvousMetrics _metrics = null!;
    private List<PipeRelayConnection> _connections = null!;
    private int _connectionCap;
    private PoolAdvisor _advisor = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
        _options = new RendezvousRelayOptions { ParkedConnectionsPerCookie = 64 };
        var monitor = TestOptionsMonitor.Create(_options);
        _broker = new RendezvousBroker(monitor, _time);
        _metrics = new RendezvousMetrics();
        _connections = [];
        _connectionCap = 20_000;
        _advisor = new PoolAdvisor(_broker, monitor, _time, _metrics, () => _connectionCap);
    }

    [TearDown]
    public async Task TearDown()
    {
        _metrics.Dispose();
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Test]
    public void A_uuid_without_demand_is_advised_one()
    {
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(1));
        Assert.That(_advisor.GetDemand(Uuid), Is.Zero);
        Assert.That(_advisor.TrackedCount, Is.Zero, "asking does not create state");
    }

    [Test]
    public void Initiators_paired_one_at_a_time_keep_the_advice_at_one()
    {
        for (var i = 0; i < 20; i++)
        {
            _advisor.InitiatorArrived(Uuid);
            _time.Advance(TimeSpan.FromSeconds(5));
        }

        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(1));
    }

    [Test]
    public void A_burst_of_concurrent_initiators_raises_the_advice_to_the_burst()
    {
        Burst(Uuid, 5);

        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(5));
        Assert.That(_advisor.Advise(Other), Is.EqualTo(1), "demand is per UUID");
    }

    [Test]
    public void Initiators_that_had_to_wait_or_were_refused_add_one_of_headroom()
    {
        Burst(Uuid, 3);
        _advisor.InitiatorStarved(Uuid);

        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(4));
        Assert.That(_advisor.GetDemand(Uuid), Is.EqualTo(4));
    }

    [Test]
    public void Arrivals_further_apart_than_the_burst_window_do_not_add_up()
    {
        for (var i = 0; i < 6; i++)
        {
            _advisor.InitiatorArrived(Uuid);
            _time.Advance(PoolAdvisor.BurstWindow / 2 + TimeSpan.FromMilliseconds(1));
        }

        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(2), "only two arrivals fall within one burst window");
    }

    [Test]
    public void Quiet_decays_the_advice_back_to_one_a_slot_at_a_time_and_forgets_the_uuid()
    {
        Burst(Uuid, 6);
        _time.Advance(_options.PoolAdviceInterval / 2);
        Burst(Uuid, 3);

        _time.Advance(_options.PoolAdviceInterval / 2);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(3), "the older burst left the interval, the newer one is still in it");

        _time.Advance(_options.PoolAdviceInterval / 2);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(1));
        Assert.That(_advisor.TrackedCount, Is.Zero, "a UUID quiet for a whole interval is forgotten");
    }

    [Test]
    public void Advice_stays_within_max_pool_advice_and_the_parked_connections_per_cookie()
    {
        Burst(Uuid, 40);
        _options.MaxPoolAdvice = 8;
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(8));

        _options.ParkedConnectionsPerCookie = 3;
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(3), "more would be closed as pool full");

        _options.MaxPoolAdvice = 64;
        _options.ParkedConnectionsPerCookie = 1024;
        Burst(Uuid, 200);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(PoolAdvisor.MaxDemand));
    }

    [Test]
    public void A_loaded_node_lowers_the_advice_in_proportion_down_to_one()
    {
        Burst(Uuid, 8);
        _connectionCap = 8;
        var cookie = _broker.Register(Other);

        Park(cookie, 4);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(8), "at half the cap nothing is lowered");

        Park(cookie, 2);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(4), "at three quarters of the cap, half");

        Park(cookie, 2);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(1), "at the cap, one");
    }

    [Test]
    public void Advice_off_answers_null_and_records_nothing()
    {
        _options.PoolAdvice = false;
        Burst(Uuid, 5);
        _advisor.InitiatorStarved(Uuid);
        _advisor.RecordRemoteDemand(Uuid, 7);

        Assert.That(_advisor.Advise(Uuid), Is.Null);
        Assert.That(_advisor.TrackedCount, Is.Zero);
    }

    [Test]
    public void Remote_demand_raises_the_advice_but_is_not_exported_again_and_decays()
    {
        Burst(Uuid, 2);
        _advisor.RecordRemoteDemand(Uuid, 6);

        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(6));
        Assert.That(_advisor.GetDemand(Uuid), Is.EqualTo(2), "only this node's own demand is exported, so it cannot echo between nodes");

        _time.Advance(_options.PoolAdviceInterval);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(1));
    }

    [Test]
    public void Remote_demand_is_checked_and_bounded()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _advisor.RecordRemoteDemand(Uuid, -1));
        Assert.Throws<ArgumentException>(() => _advisor.RecordRemoteDemand(string.Empty, 1));

        _options.MaxPoolAdvice = PoolAdvisor.MaxDemand;
        _options.ParkedConnectionsPerCookie = 1024;
        _advisor.RecordRemoteDemand(Uuid, int.MaxValue);
        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(PoolAdvisor.MaxDemand));
    }

    [Test]
    public void A_flood_of_distinct_uuids_keeps_at_most_the_cap_and_forgets_the_least_recently_active()
    {
        Burst(Uuid, 5);
        for (var i = 0; i < PoolAdvisor.MaxTrackedUuids + 1_000; i++)
        {
            _advisor.InitiatorArrived($"00000000-0000-4000-8000-{i:x12}");
            if (i == PoolAdvisor.MaxTrackedUuids - 10)
            {
                _time.Advance(TimeSpan.FromSeconds(2));
                Burst(Uuid, 5); // active again: no longer among the least recently active
            }
        }

        Assert.That(_advisor.TrackedCount, Is.EqualTo(PoolAdvisor.MaxTrackedUuids));
        Assert.That(_advisor.GetDemand(Uuid), Is.EqualTo(5));
        Assert.That(_advisor.GetDemand("00000000-0000-4000-8000-000000000000"), Is.Zero, "the least recently active went first");
        Assert.That(_advisor.GetDemand($"00000000-0000-4000-8000-{PoolAdvisor.MaxTrackedUuids + 999:x12}"), Is.EqualTo(1));
    }

    [Test]
    public void One_uuid_flooded_with_initiators_keeps_a_bounded_burst()
    {
        _options.MaxPoolAdvice = PoolAdvisor.MaxDemand;
        _options.ParkedConnectionsPerCookie = 1024;
        Burst(Uuid, 100_000);

        Assert.That(_advisor.GetDemand(Uuid), Is.EqualTo(PoolAdvisor.MaxDemand));
        Assert.That(_advisor.TrackedCount, Is.EqualTo(1));
    }

    [Test]
    public void Advice_given_is_recorded_in_the_histogram_and_peeking_is_not()
    {
        var recorded = new List<int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == RendezvousMetrics.MeterName && instrument.Name == "rendezvous.pool.advice")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, _, _) =>
        {
            lock (recorded)
            {
                recorded.Add(value);
            }
        });
        listener.Start();
        Burst(Uuid, 3);

        Assert.That(_advisor.Peek(Uuid), Is.EqualTo(3));
        lock (recorded)
        {
            Assert.That(recorded, Does.Not.Contain(3), "peeking (the admin page) is not advice given");
        }

        Assert.That(_advisor.Advise(Uuid), Is.EqualTo(3));
        lock (recorded)
        {
            Assert.That(recorded, Does.Contain(3));
        }
    }

    private void Burst(string uuid, int initiators)
    {
        for (var i = 0; i < initiators; i++)
        {
            _advisor.InitiatorArrived(uuid);
        }
    }

    private void Park(string cookie, int connections)
    {
        for (var i = 0; i < connections; i++)
        {
            var connection = new PipeRelayConnection();
            _connections.Add(connection);
            Assert.That(_broker.Park(cookie, new ParkedResponder(connection)), Is.EqualTo(ParkStatus.Parked));
        }
    }
}
