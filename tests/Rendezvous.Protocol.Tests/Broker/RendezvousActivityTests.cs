using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Broker;

public sealed class RendezvousActivityTests
{
    private const string Uuid = "6f1c2d3e-0000-4000-8000-000000000001";

    private FakeTimeProvider _time = null!;
    private RendezvousBroker _broker = null!;
    private List<PipeRelayConnection> _connections = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        _broker = new RendezvousBroker(TestOptionsMonitor.Create(new RendezvousRelayOptions { ParkedConnectionsPerCookie = 4 }), _time);
        _connections = [];
    }

    [TearDown]
    public async Task TearDown()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Test]
    public void Unknown_uuid_reads_as_all_zero_and_not_registered()
    {
        var activity = _broker.Activity.Get(Uuid);

        Assert.That(activity, Is.EqualTo(new UuidActivity(Uuid, false, 0, 0, 0, 0, 0, null, 0, null)));
        Assert.That(_broker.Activity.Snapshot(), Is.Empty);
    }

    [Test]
    public void Registration_is_counted_with_its_time_and_shows_as_registered()
    {
        _broker.Register(Uuid);
        _time.Advance(TimeSpan.FromMinutes(1));
        _broker.Register(Uuid);

        var activity = _broker.Activity.Get(Uuid);

        Assert.That(activity.Registered, Is.True);
        Assert.That(activity.Registrations, Is.EqualTo(2));
        Assert.That(activity.LastRegistered, Is.EqualTo(_time.GetUtcNow()));
        Assert.That(_broker.Activity.Snapshot().Select(a => a.Uuid), Is.EqualTo(new[] { Uuid }));
    }

    [Test]
    public void Unregistered_uuid_keeps_its_history_but_is_no_longer_registered()
    {
        _broker.Register(Uuid);

        _broker.Unregister(Uuid);

        var activity = _broker.Activity.Get(Uuid);
        Assert.That((activity.Registered, activity.Registrations), Is.EqualTo((false, 1L)));
    }

    [Test]
    public void Parked_connections_are_counted_per_uuid()
    {
        var cookie = _broker.Register(Uuid);
        _broker.Register("6f1c2d3e-0000-4000-8000-000000000002");

        _broker.Park(cookie, Parked());
        _broker.Park(cookie, Parked());

        Assert.That(_broker.Activity.Get(Uuid).Parked, Is.EqualTo(2));
        Assert.That(_broker.Activity.Get("6f1c2d3e-0000-4000-8000-000000000002").Parked, Is.Zero);
    }

    [Test]
    public void Refusals_are_counted_with_their_time()
    {
        _broker.Activity.Refused(Uuid);
        _time.Advance(TimeSpan.FromSeconds(5));
        _broker.Activity.Refused(Uuid);

        var activity = _broker.Activity.Get(Uuid);

        Assert.That((activity.Failures, activity.LastFailure, activity.Registered), Is.EqualTo((2L, (DateTimeOffset?)_time.GetUtcNow(), false)));
    }

    [Test]
    public void A_session_counts_live_until_it_ends_and_keeps_its_bytes()
    {
        _broker.Register(Uuid);
        using var metrics = new RendezvousMetrics();
        var session = _broker.Activity.StartSession(Uuid);
        var onBytes = session.BytesCallback(metrics);
        onBytes(100);
        onBytes(23);
        var during = _broker.Activity.Get(Uuid);

        session.End();
        session.End();

        var after = _broker.Activity.Get(Uuid);
        Assert.That((during.LiveSessions, during.Sessions, during.BytesRelayed), Is.EqualTo((1, 1L, 123L)));
        Assert.That((after.LiveSessions, after.Sessions, after.BytesRelayed), Is.EqualTo((0, 1L, 123L)));
    }

    [Test]
    public void Sessions_of_one_uuid_share_one_byte_callback_per_metrics()
    {
        _broker.Register(Uuid);
        using var metrics = new RendezvousMetrics();
        using var other = new RendezvousMetrics();
        var first = _broker.Activity.StartSession(Uuid).BytesCallback(metrics);
        var second = _broker.Activity.StartSession(Uuid).BytesCallback(metrics);
        var elsewhere = _broker.Activity.StartSession(Uuid).BytesCallback(other);

        elsewhere(7);

        Assert.That((ReferenceEquals(first, second), ReferenceEquals(first, elsewhere)), Is.EqualTo((true, false)));
        Assert.That(_broker.Activity.Get(Uuid).BytesRelayed, Is.EqualTo(7L));
    }

    [Test]
    public void Forget_drops_what_is_known()
    {
        _broker.Register(Uuid);
        _broker.Unregister(Uuid);

        _broker.Activity.Forget(Uuid);

        Assert.That(_broker.Activity.Snapshot(), Is.Empty);
        Assert.That(_broker.Activity.Get(Uuid).Registrations, Is.Zero);
    }

    [Test]
    public void Uuids_that_only_failed_are_kept_up_to_the_bound_oldest_dropped_first()
    {
        _broker.Register(Uuid);
        for (var i = 0; i <= RendezvousActivity.MaxUnregisteredEntries; i++)
        {
            _broker.Activity.Refused($"00000000-0000-4000-8000-{i:x12}");
        }

        var known = _broker.Activity.Snapshot().Select(a => a.Uuid).ToHashSet();

        Assert.That(known, Has.Count.LessThanOrEqualTo(RendezvousActivity.MaxUnregisteredEntries + 1));
        Assert.That(known, Does.Contain(Uuid), "a UUID that registered is never dropped");
        Assert.That(known, Does.Not.Contain("00000000-0000-4000-8000-000000000000"), "the oldest refusal-only entry goes first");
        Assert.That(known, Does.Contain($"00000000-0000-4000-8000-{RendezvousActivity.MaxUnregisteredEntries:x12}"));
    }

    private ParkedResponder Parked()
    {
        var connection = new PipeRelayConnection();
        _connections.Add(connection);
        return new ParkedResponder(connection);
    }
}
