using Microsoft.Extensions.Time.Testing;

namespace Rendezvous.Redis.Tests.Directory;

/// <summary>The bounds on what unknown cookies cost: a negative cache with a cap and a lifetime, and a rate limit.</summary>
public sealed class AdoptionGuardTests
{
    [Test]
    public void A_flood_of_random_cookies_reaches_Redis_at_most_the_limit_a_second()
    {
        var time = new FakeTimeProvider();
        var guard = new AdoptionGuard(time) { LookupsPerSecond = 100 };
        var allowed = 0;
        var reported = 0;
        for (var i = 0; i < 10_000; i++)
        {
            if (guard.TryBegin("cookie" + i, out var limitReached))
            {
                allowed++;
                guard.Miss("cookie" + i);
            }

            reported += limitReached ? 1 : 0;
        }

        Assert.Multiple(() =>
        {
            Assert.That(allowed, Is.EqualTo(100), "one second's worth");
            Assert.That(reported, Is.EqualTo(1), "the limit is reported once a second, not per refusal");
        });

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(guard.TryBegin("next", out _), Is.True, "a new second, new lookups");
    }

    [Test]
    public void An_unknown_cookie_is_not_looked_up_again_until_its_miss_expires()
    {
        var time = new FakeTimeProvider();
        var guard = new AdoptionGuard(time);
        Assert.That(guard.TryBegin("x", out _), Is.True);
        guard.Miss("x");
        Assert.That(guard.TryBegin("x", out _), Is.False);
        time.Advance(AdoptionGuard.MissLifetime);
        Assert.That(guard.TryBegin("x", out _), Is.True);
    }

    [Test]
    public void The_negative_cache_never_holds_more_than_its_cap()
    {
        var time = new FakeTimeProvider();
        var guard = new AdoptionGuard(time);
        for (var i = 0; i < AdoptionGuard.MaxMisses * 3; i++)
        {
            guard.Miss("cookie" + i);
        }

        Assert.That(guard.MissCount, Is.EqualTo(AdoptionGuard.MaxMisses));
        Assert.That(guard.TryBegin("cookie" + ((AdoptionGuard.MaxMisses * 3) - 1), out _), Is.False, "the newest are kept");
        Assert.That(guard.TryBegin("cookie0", out _), Is.True, "the oldest were forgotten");

        time.Advance(AdoptionGuard.MissLifetime);
        guard.Miss("late");
        Assert.That(guard.MissCount, Is.EqualTo(1), "expired misses are dropped");
    }
}
