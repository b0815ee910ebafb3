using Rendezvous.Protocol.Broker;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Broker;

/// <summary>Registrations issued by another node of a cluster: adopted by their I value, superseded by generation.</summary>
public sealed partial class RendezvousBrokerTests
{
    [Test]
    public async Task An_adopted_registration_parks_its_R_value_and_pairs_its_I_value()
    {
        var responderCookie = RendezvousCookies.NewResponderValue();

        Assert.That(_broker.Adopt("uuid-1", I(responderCookie), generation: 4), Is.True);
        var parked = NewResponder();
        Assert.That(_broker.Park(responderCookie, parked), Is.EqualTo(ParkStatus.Parked));
        var result = await _broker.InitiateAsync(I(responderCookie)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(result.Responder, Is.SameAs(parked));
            Assert.That(_broker.GetGeneration("uuid-1"), Is.EqualTo(4));
            Assert.That(_broker.IsCurrent(responderCookie), Is.True);
        });
    }

    [Test]
    public void The_I_value_of_an_adopted_registration_cannot_park()
    {
        var responderCookie = RendezvousCookies.NewResponderValue();
        _broker.Adopt("uuid-1", I(responderCookie), generation: 1);

        Assert.That(_broker.Park(I(responderCookie), NewResponder()), Is.EqualTo(ParkStatus.NotRegistered));
    }

    [Test]
    public async Task A_newer_adoption_supersedes_the_held_registration_and_closes_its_parks()
    {
        var old = _broker.Register("uuid-1");
        var parked = NewResponder();
        _broker.Park(old, parked);
        var fresh = RendezvousCookies.NewResponderValue();

        Assert.That(_broker.Adopt("uuid-1", I(fresh), generation: 2), Is.True);

        Assert.Multiple(async () =>
        {
            Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Superseded));
            Assert.That(_broker.IsCurrent(old), Is.False);
            Assert.That(_broker.IsCurrent(fresh), Is.True);
        });
    }

    [Test]
    public void A_stale_adoption_never_replaces_a_newer_registration()
    {
        var fresh = RendezvousCookies.NewResponderValue();
        _broker.Adopt("uuid-1", I(fresh), generation: 7);
        var stale = RendezvousCookies.NewResponderValue();

        Assert.Multiple(() =>
        {
            Assert.That(_broker.Adopt("uuid-1", I(stale), generation: 6), Is.False);
            Assert.That(_broker.Adopt("uuid-1", I(fresh), generation: 7), Is.True, "adopting what is held again is harmless");
            Assert.That(_broker.IsCurrent(stale), Is.False);
            Assert.That(_broker.IsCurrent(fresh), Is.True);
        });
    }

    [Test]
    public async Task Supersede_closes_an_older_registration_and_keeps_a_newer_one()
    {
        var cookie = RendezvousCookies.NewResponderValue();
        _broker.Adopt("uuid-1", I(cookie), generation: 3);
        var parked = NewResponder();
        _broker.Park(cookie, parked);

        Assert.Multiple(async () =>
        {
            Assert.That(_broker.Supersede("uuid-1", generation: 3), Is.False, "the same generation is the current one");
            Assert.That(_broker.Supersede("uuid-2", generation: 9), Is.False, "nothing held");
            Assert.That(_broker.Supersede("uuid-1", generation: 4), Is.True);
            Assert.That(await parked.Outcome.WaitAsync(TestTimeouts.Short), Is.EqualTo(ParkOutcome.Superseded));
            Assert.That(_broker.GetGeneration("uuid-1"), Is.Zero);
            Assert.That(_broker.RegistrationCount, Is.Zero);
        });
    }

    [Test]
    public void Local_registrations_count_their_generations_up()
    {
        _broker.Register("uuid-1");
        _broker.Register("uuid-1");

        Assert.That(_broker.GetGeneration("uuid-1"), Is.EqualTo(2));
    }
}
