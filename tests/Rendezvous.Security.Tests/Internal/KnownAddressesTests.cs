using Microsoft.Extensions.Time.Testing;
using Rendezvous.Security.Internal;

namespace Rendezvous.Security.Tests.Internal;

public sealed class KnownAddressesTests
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    [Test]
    public void Remembered_address_is_known_for_its_uuid_only()
    {
        var known = new KnownAddresses(new FakeTimeProvider(), Lifetime, 4, 100);
        known.Remember("u", "192.0.2.1");

        Assert.That(known.Contains("u", "192.0.2.1"), Is.True);
        Assert.That(known.Contains("u", "192.0.2.2"), Is.False);
        Assert.That(known.Contains("v", "192.0.2.1"), Is.False);
    }

    [Test]
    public void Address_is_forgotten_a_lifetime_after_its_last_success()
    {
        var time = new FakeTimeProvider();
        var known = new KnownAddresses(time, Lifetime, 4, 100);
        known.Remember("u", "a");
        time.Advance(TimeSpan.FromHours(20));
        known.Remember("u", "a");
        time.Advance(TimeSpan.FromHours(20));
        Assert.That(known.Contains("u", "a"), Is.True);

        time.Advance(TimeSpan.FromHours(4));

        Assert.That(known.Contains("u", "a"), Is.False);
        Assert.That(known.Count, Is.Zero);
    }

    [Test]
    public void Per_uuid_cap_forgets_the_least_recently_successful()
    {
        var time = new FakeTimeProvider();
        var known = new KnownAddresses(time, Lifetime, 2, 100);
        known.Remember("u", "a");
        time.Advance(TimeSpan.FromSeconds(1));
        known.Remember("u", "b");
        time.Advance(TimeSpan.FromSeconds(1));
        known.Remember("u", "a");
        time.Advance(TimeSpan.FromSeconds(1));
        known.Remember("u", "c");

        Assert.That((known.Contains("u", "a"), known.Contains("u", "b"), known.Contains("u", "c")), Is.EqualTo((true, false, true)));
    }

    [Test]
    public void Total_cap_holds_under_many_uuids_and_addresses()
    {
        var time = new FakeTimeProvider();
        var known = new KnownAddresses(time, Lifetime, 4, 100);
        for (int i = 0; i < 10_000; i++)
        {
            known.Remember("u" + (i % 700), "a" + i);
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.That(known.Count, Is.EqualTo(100));
        Assert.That(known.Contains("u" + (9_999 % 700), "a9999"), Is.True);
    }
}
