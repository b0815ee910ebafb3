using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Broker;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Broker;

public sealed partial class RendezvousBrokerTests
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(5);

    private FakeTimeProvider _time = null!;
    private TestOptionsMonitor<RendezvousRelayOptions> _options = null!;
    private RendezvousBroker _broker = null!;
    private List<PipeRelayConnection> _connections = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider();
        _options = TestOptionsMonitor.Create(new RendezvousRelayOptions { InitiatorGracePeriod = Grace, ParkedConnectionsPerCookie = 1 });
        _broker = new RendezvousBroker(_options, _time);
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
    public void Register_issues_a_printable_cookie_of_at_least_128_bits()
    {
        var cookie = _broker.Register("uuid-1");

        Assert.That(cookie, Has.Length.GreaterThanOrEqualTo(22), "22 base64 characters carry 128 bits");
        Assert.That(cookie.All(c => c is >= '!' and <= '~'), Is.True, $"printable ASCII without whitespace: {cookie}");
    }

    [Test]
    public void Register_issues_distinct_cookies()
    {
        var cookies = Enumerable.Range(0, 1000).Select(i => _broker.Register("uuid-" + i)).ToList();

        Assert.That(cookies, Is.Unique);
    }

    [Test]
    public void Registered_cookie_is_current_and_found_by_lookup()
    {
        var cookie = _broker.Register("uuid-1");

        Assert.That(_broker.IsCurrent(cookie), Is.True);
        Assert.That(_broker.TryGetInitiatorCookie("uuid-1", out var found), Is.True);
        Assert.That(found, Is.EqualTo(RendezvousCookies.InitiatorValueFor(cookie)));
        Assert.That(_broker.RegistrationCount, Is.EqualTo(1));
    }

    [Test]
    public void Lookup_of_an_unknown_uuid_finds_nothing()
    {
        Assert.That(_broker.TryGetInitiatorCookie("nobody", out var cookie), Is.False);
        Assert.That(cookie, Is.Empty);
    }

    [Test]
    public void Unknown_cookie_is_not_current()
    {
        _broker.Register("uuid-1");

        Assert.That(_broker.IsCurrent("made-up"), Is.False);
    }

    [Test]
    public void Reregistration_issues_a_new_cookie_and_the_old_one_stops_being_current()
    {
        var old = _broker.Register("uuid-1");
        var fresh = _broker.Register("uuid-1");

        Assert.That(fresh, Is.Not.EqualTo(old));
        Assert.That(_broker.IsCurrent(old), Is.False);
        Assert.That(_broker.IsCurrent(fresh), Is.True);
        Assert.That(_broker.TryGetInitiatorCookie("uuid-1", out var found) ? found : null, Is.EqualTo(I(fresh)));
        Assert.That(_broker.RegistrationCount, Is.EqualTo(1));
    }

    [Test]
    public async Task Reregistration_closes_responders_parked_with_the_old_cookie_as_superseded()
    {
        var old = _broker.Register("uuid-1");
        var parked = NewResponder();
        _broker.Park(old, parked);

        _broker.Register("uuid-1");

        Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Superseded));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Reregistration_tells_a_waiting_initiator_the_old_cookie_is_not_registered()
    {
        var old = _broker.Register("uuid-1");
        var waiting = _broker.InitiateAsync(I(old)).AsTask();

        _broker.Register("uuid-1");

        var result = await waiting.WaitAsync(TestTimeouts.Short);
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotRegistered));
        Assert.That(result.Responder, Is.Null);
    }

    [Test]
    public void Responder_with_a_superseded_cookie_is_not_parked()
    {
        var old = _broker.Register("uuid-1");
        _broker.Register("uuid-1");

        var status = _broker.Park(old, NewResponder());

        Assert.That(status, Is.EqualTo(ParkStatus.NotRegistered));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task New_cookie_pairs_after_reregistration()
    {
        _broker.Register("uuid-1");
        var fresh = _broker.Register("uuid-1");
        var parked = NewResponder();

        _broker.Park(fresh, parked);
        var result = await _broker.InitiateAsync(I(fresh)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(result.Status, Is.EqualTo(InitiateStatus.Paired));
        Assert.That(result.Responder, Is.SameAs(parked));
    }

    [Test]
    public async Task Unregister_forgets_the_uuid_and_closes_its_parked_responders()
    {
        var cookie = _broker.Register("uuid-1");
        var parked = NewResponder();
        _broker.Park(cookie, parked);

        var removed = _broker.Unregister("uuid-1");

        Assert.That(removed, Is.True);
        Assert.That(_broker.IsCurrent(cookie), Is.False);
        Assert.That(_broker.TryGetInitiatorCookie("uuid-1", out _), Is.False);
        Assert.That(_broker.RegistrationCount, Is.Zero);
        Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Superseded));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public void Unregister_of_an_unknown_uuid_returns_false()
    {
        Assert.That(_broker.Unregister("nobody"), Is.False);
    }

    [Test]
    public void Responder_with_an_unknown_cookie_is_not_parked()
    {
        var status = _broker.Park("made-up", NewResponder());

        Assert.That(status, Is.EqualTo(ParkStatus.NotRegistered));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Initiator_with_an_unknown_cookie_is_not_registered()
    {
        var result = await _broker.InitiateAsync("made-up").AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotRegistered));
    }

    [Test]
    public async Task Initiator_is_paired_with_a_parked_responder()
    {
        var cookie = _broker.Register("uuid-1");
        var parked = NewResponder();

        var status = _broker.Park(cookie, parked);
        var result = await _broker.InitiateAsync(I(cookie)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(status, Is.EqualTo(ParkStatus.Parked));
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.Paired));
        Assert.That(result.Responder, Is.SameAs(parked));
        Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Paired));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public void Parked_responder_counts_as_parked_until_paired()
    {
        var cookie = _broker.Register("uuid-1");

        _broker.Park(cookie, NewResponder());

        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
    }

    [Test]
    public async Task Pool_of_one_closes_the_older_responder_when_a_new_one_parks()
    {
        var cookie = _broker.Register("uuid-1");
        var older = NewResponder();
        var newer = NewResponder();

        _broker.Park(cookie, older);
        _broker.Park(cookie, newer);

        Assert.That(await older.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.PoolFull));
        Assert.That(newer.Outcome.IsCompleted, Is.False);
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
        var result = await _broker.InitiateAsync(I(cookie)).AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(result.Responder, Is.SameAs(newer));
    }

    [Test]
    public async Task Pool_of_three_keeps_three_and_evicts_the_oldest()
    {
        _options.CurrentValue.ParkedConnectionsPerCookie = 3;
        var cookie = _broker.Register("uuid-1");
        var responders = Enumerable.Range(0, 4).Select(_ => NewResponder()).ToList();

        foreach (var responder in responders)
        {
            _broker.Park(cookie, responder);
        }

        Assert.That(await responders[0].Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.PoolFull));
        Assert.That(responders.Skip(1).Select(r => r.Outcome.IsCompleted), Is.All.False);
        Assert.That(_broker.ParkedCount, Is.EqualTo(3));
    }

    [Test]
    public async Task Initiators_are_paired_with_the_newest_parked_responder_first()
    {
        _options.CurrentValue.ParkedConnectionsPerCookie = 3;
        var cookie = _broker.Register("uuid-1");
        var responders = Enumerable.Range(0, 3).Select(_ => NewResponder()).ToList();
        foreach (var responder in responders)
        {
            _broker.Park(cookie, responder);
        }

        var paired = new List<ParkedResponder?>();
        for (var i = 0; i < 3; i++)
        {
            paired.Add((await _broker.InitiateAsync(I(cookie)).AsTask().WaitAsync(TestTimeouts.Short)).Responder);
        }

        Assert.That(paired, Is.EqualTo(new[] { responders[2], responders[1], responders[0] }));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task Pools_of_different_cookies_are_separate()
    {
        var first = _broker.Register("uuid-1");
        var second = _broker.Register("uuid-2");
        var one = NewResponder();
        var two = NewResponder();

        _broker.Park(first, one);
        _broker.Park(second, two);

        Assert.That(one.Outcome.IsCompleted, Is.False);
        Assert.That(_broker.ParkedCount, Is.EqualTo(2));
        Assert.That((await _broker.InitiateAsync(I(second)).AsTask().WaitAsync(TestTimeouts.Short)).Responder, Is.SameAs(two));
        Assert.That((await _broker.InitiateAsync(I(first)).AsTask().WaitAsync(TestTimeouts.Short)).Responder, Is.SameAs(one));
    }

    [Test]
    public async Task Initiator_waits_and_is_paired_when_a_responder_parks_within_grace()
    {
        var cookie = _broker.Register("uuid-1");
        var waiting = _broker.InitiateAsync(I(cookie)).AsTask();
        _time.Advance(Grace - TimeSpan.FromMilliseconds(1));
        Assert.That(waiting.IsCompleted, Is.False, "still within grace");

        var parked = NewResponder();
        var status = _broker.Park(cookie, parked);

        var result = await waiting.WaitAsync(TestTimeouts.Short);
        Assert.That(status, Is.EqualTo(ParkStatus.Parked));
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.Paired));
        Assert.That(result.Responder, Is.SameAs(parked));
        Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Paired));
        Assert.That(_broker.ParkedCount, Is.Zero, "handed over, never parked");
    }

    [Test]
    public async Task Initiator_gets_not_ready_when_nothing_parks_within_grace()
    {
        var cookie = _broker.Register("uuid-1");
        var waiting = _broker.InitiateAsync(I(cookie)).AsTask();

        _time.Advance(Grace);

        var result = await waiting.WaitAsync(TestTimeouts.Short);
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotReady));
        Assert.That(result.Responder, Is.Null);
    }

    [Test]
    public async Task Responder_parking_after_an_initiator_gave_up_stays_parked()
    {
        var cookie = _broker.Register("uuid-1");
        var waiting = _broker.InitiateAsync(I(cookie)).AsTask();
        _time.Advance(Grace);
        await waiting.WaitAsync(TestTimeouts.Short);

        var parked = NewResponder();
        _broker.Park(cookie, parked);

        Assert.That(parked.Outcome.IsCompleted, Is.False);
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
    }

    [Test]
    public async Task Waiting_initiators_are_paired_in_arrival_order()
    {
        var cookie = _broker.Register("uuid-1");
        var first = _broker.InitiateAsync(I(cookie)).AsTask();
        var second = _broker.InitiateAsync(I(cookie)).AsTask();
        var a = NewResponder();
        var b = NewResponder();

        _broker.Park(cookie, a);
        _broker.Park(cookie, b);

        Assert.That((await first.WaitAsync(TestTimeouts.Short)).Responder, Is.SameAs(a));
        Assert.That((await second.WaitAsync(TestTimeouts.Short)).Responder, Is.SameAs(b));
    }

    [Test]
    public async Task Zero_grace_fails_at_once_when_nothing_is_parked()
    {
        _options.CurrentValue.InitiatorGracePeriod = TimeSpan.Zero;
        var cookie = _broker.Register("uuid-1");

        var waiting = _broker.InitiateAsync(I(cookie));

        Assert.That(waiting.IsCompleted, Is.True, "no clock advance needed");
        var result = await waiting.AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotReady));
    }

    [Test]
    public async Task Zero_grace_still_pairs_with_a_parked_responder()
    {
        _options.CurrentValue.InitiatorGracePeriod = TimeSpan.Zero;
        var cookie = _broker.Register("uuid-1");
        var parked = NewResponder();
        _broker.Park(cookie, parked);

        var result = await _broker.InitiateAsync(I(cookie)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(result.Responder, Is.SameAs(parked));
    }

    [Test]
    public async Task Unpark_removes_a_parked_responder_so_no_initiator_is_paired_with_it()
    {
        _options.CurrentValue.InitiatorGracePeriod = TimeSpan.Zero;
        var cookie = _broker.Register("uuid-1");
        var parked = NewResponder();
        _broker.Park(cookie, parked);

        var removed = _broker.Unpark(parked);
        var result = await _broker.InitiateAsync(I(cookie)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(removed, Is.True);
        Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.PeerClosed));
        Assert.That(_broker.ParkedCount, Is.Zero);
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotReady));
    }

    [Test]
    public async Task Unpark_of_one_responder_leaves_the_others_parked()
    {
        _options.CurrentValue.ParkedConnectionsPerCookie = 2;
        var cookie = _broker.Register("uuid-1");
        var alive = NewResponder();
        var dead = NewResponder();
        _broker.Park(cookie, alive);
        _broker.Park(cookie, dead);

        _broker.Unpark(dead);
        var result = await _broker.InitiateAsync(I(cookie)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(result.Responder, Is.SameAs(alive));
    }

    [Test]
    public async Task Unpark_of_a_paired_responder_returns_false_and_keeps_it_paired()
    {
        var cookie = _broker.Register("uuid-1");
        var parked = NewResponder();
        _broker.Park(cookie, parked);
        await _broker.InitiateAsync(I(cookie)).AsTask().WaitAsync(TestTimeouts.Short);

        var removed = _broker.Unpark(parked);

        Assert.That(removed, Is.False);
        Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Paired));
    }

    [Test]
    public void Unpark_of_a_responder_never_parked_returns_false()
    {
        Assert.That(_broker.Unpark(NewResponder()), Is.False);
    }

    [Test]
    public async Task CloseAll_closes_parked_responders_as_shutting_down()
    {
        var first = _broker.Register("uuid-1");
        var second = _broker.Register("uuid-2");
        var one = NewResponder();
        var two = NewResponder();
        _broker.Park(first, one);
        _broker.Park(second, two);

        _broker.CloseAll();

        Assert.That(await one.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.ShuttingDown));
        Assert.That(await two.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.ShuttingDown));
        Assert.That(_broker.ParkedCount, Is.Zero);
    }

    [Test]
    public async Task CloseAll_tells_waiting_initiators_not_ready()
    {
        var cookie = _broker.Register("uuid-1");
        var waiting = _broker.InitiateAsync(I(cookie)).AsTask();

        _broker.CloseAll();

        var result = await waiting.WaitAsync(TestTimeouts.Short);
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotReady));
    }

    [Test]
    public async Task Cancelling_a_waiting_initiator_stops_its_wait_before_grace_ends()
    {
        var cookie = _broker.Register("uuid-1");
        using var cancel = new CancellationTokenSource();
        var waiting = _broker.InitiateAsync(I(cookie), cancel.Token).AsTask();

        await cancel.CancelAsync();

        var result = await waiting.WaitAsync(TestTimeouts.Short);
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotReady), "cancellation ends the wait with an answer, not an exception");
        Assert.That(result.Responder, Is.Null);
    }

    [Test]
    public async Task Responder_parking_after_an_initiator_was_cancelled_stays_parked()
    {
        var cookie = _broker.Register("uuid-1");
        using var cancel = new CancellationTokenSource();
        var waiting = _broker.InitiateAsync(I(cookie), cancel.Token).AsTask();
        await cancel.CancelAsync();
        await waiting.WaitAsync(TestTimeouts.Short);

        var parked = NewResponder();
        _broker.Park(cookie, parked);

        Assert.That(parked.Outcome.IsCompleted, Is.False, "not handed to the initiator that left");
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
    }

    [Test]
    public async Task Initiator_cancelled_before_it_starts_gets_not_ready_without_waiting()
    {
        var cookie = _broker.Register("uuid-1");
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();

        var result = await _broker.InitiateAsync(I(cookie), cancel.Token).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotReady));
    }

    [Test]
    public void Lookup_hands_out_an_initiator_value_that_differs_from_the_responder_value()
    {
        var responder = _broker.Register("uuid-1");

        Assert.That(_broker.TryGetInitiatorCookie("uuid-1", out var initiator), Is.True);
        Assert.That(initiator, Is.Not.EqualTo(responder));
        Assert.That(initiator, Is.EqualTo(RendezvousCookies.InitiatorValueFor(responder)));
        Assert.That(_broker.IsCurrent(initiator), Is.False, "the I value is not an R value");
    }

    [Test]
    public async Task Responder_with_the_initiator_value_is_not_parked_and_displaces_nothing()
    {
        var responder = _broker.Register("uuid-1");
        var owner = NewResponder();
        _broker.Park(responder, owner);
        _broker.TryGetInitiatorCookie("uuid-1", out var lookedUp);

        Assert.That(_broker.Park(lookedUp, NewResponder()), Is.EqualTo(ParkStatus.NotRegistered));
        Assert.That(_broker.Park(I(lookedUp), NewResponder()), Is.EqualTo(ParkStatus.NotRegistered), "anything derived from the lookup");

        Assert.That(owner.Outcome.IsCompleted, Is.False, "the owner's connection stays parked");
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
        var result = await _broker.InitiateAsync(lookedUp).AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(result.Status, Is.EqualTo(InitiateStatus.Paired));
        Assert.That(result.Responder, Is.SameAs(owner));
    }

    [Test]
    public async Task Initiator_with_the_responder_value_is_not_registered_and_takes_nothing()
    {
        var responder = _broker.Register("uuid-1");
        var owner = NewResponder();
        _broker.Park(responder, owner);

        var result = await _broker.InitiateAsync(responder).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(result.Status, Is.EqualTo(InitiateStatus.NotRegistered));
        Assert.That(result.Responder, Is.Null);
        Assert.That(owner.Outcome.IsCompleted, Is.False);
        Assert.That(_broker.ParkedCount, Is.EqualTo(1));
    }

    [Test]
    public void Reregistration_retires_the_old_initiator_value_too()
    {
        var old = _broker.Register("uuid-1");
        _broker.Register("uuid-1");

        Assert.That(_broker.TryInitiate(I(old))?.Status, Is.EqualTo(InitiateStatus.NotRegistered));
    }

    /// <summary>The I value that goes with the R value <paramref name="responder"/>.</summary>
    private static string I(string responder) => RendezvousCookies.InitiatorValueFor(responder);

    private ParkedResponder NewResponder()
    {
        var connection = new PipeRelayConnection();
        _connections.Add(connection);
        return new ParkedResponder(connection);
    }
}
