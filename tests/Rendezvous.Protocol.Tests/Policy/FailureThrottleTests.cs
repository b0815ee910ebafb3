using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Protocol.Tests.Policy;

public sealed class FailureThrottleTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    [Test]
    public void Key_is_not_throttled_below_the_limit()
    {
        var throttle = new FailureThrottle(new FakeTimeProvider(), 3, Window, 100);
        throttle.RecordFailure("k");
        throttle.RecordFailure("k");

        Assert.That(throttle.IsThrottled("k", out _), Is.False);
    }

    [Test]
    public void Key_is_throttled_at_the_limit_for_the_rest_of_the_window()
    {
        var time = new FakeTimeProvider();
        var throttle = new FailureThrottle(time, 3, Window, 100);
        throttle.RecordFailure("k");
        time.Advance(TimeSpan.FromSeconds(20));
        throttle.RecordFailure("k");
        throttle.RecordFailure("k");

        Assert.That(throttle.IsThrottled("k", out TimeSpan retryAfter), Is.True);
        Assert.That(retryAfter, Is.EqualTo(TimeSpan.FromSeconds(40)));
    }

    [Test]
    public void Throttle_ends_when_the_window_expires()
    {
        var time = new FakeTimeProvider();
        var throttle = new FailureThrottle(time, 1, Window, 100);
        throttle.RecordFailure("k");
        time.Advance(Window);

        Assert.That(throttle.IsThrottled("k", out _), Is.False);
    }

    [Test]
    public void Retry_after_is_at_least_one_second()
    {
        var time = new FakeTimeProvider();
        var throttle = new FailureThrottle(time, 1, Window, 100);
        throttle.RecordFailure("k");
        time.Advance(Window - TimeSpan.FromMilliseconds(10));

        Assert.That(throttle.IsThrottled("k", out TimeSpan retryAfter), Is.True);
        Assert.That(retryAfter, Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public void Clear_forgets_the_failures()
    {
        var throttle = new FailureThrottle(new FakeTimeProvider(), 1, Window, 100);
        throttle.RecordFailure("k");
        throttle.Clear("k");

        Assert.That(throttle.IsThrottled("k", out _), Is.False);
    }

    [Test]
    public void Keys_are_counted_separately()
    {
        var throttle = new FailureThrottle(new FakeTimeProvider(), 1, Window, 100);
        throttle.RecordFailure("a");

        Assert.That(throttle.IsThrottled("b", out _), Is.False);
    }

    [Test]
    public void Tracked_keys_never_exceed_the_cap()
    {
        var throttle = new FailureThrottle(new FakeTimeProvider(), 1, Window, 10);
        for (int i = 0; i < 1000; i++)
        {
            throttle.RecordFailure("key" + i);
        }

        Assert.That(throttle.Count, Is.EqualTo(10));
    }

    [Test]
    public void Oldest_key_is_evicted_first_when_full()
    {
        var time = new FakeTimeProvider();
        var throttle = new FailureThrottle(time, 1, Window, 2);
        throttle.RecordFailure("oldest");
        time.Advance(TimeSpan.FromSeconds(1));
        throttle.RecordFailure("middle");
        time.Advance(TimeSpan.FromSeconds(1));
        throttle.RecordFailure("newest");

        Assert.That(throttle.IsThrottled("oldest", out _), Is.False);
        Assert.That(throttle.IsThrottled("middle", out _), Is.True);
        Assert.That(throttle.IsThrottled("newest", out _), Is.True);
    }

    [Test]
    public void Expired_keys_are_dropped_when_new_keys_arrive()
    {
        var time = new FakeTimeProvider();
        var throttle = new FailureThrottle(time, 1, Window, 100);
        for (int i = 0; i < 50; i++)
        {
            throttle.RecordFailure("key" + i);
        }

        time.Advance(Window);
        throttle.RecordFailure("fresh");

        Assert.That(throttle.Count, Is.EqualTo(1));
    }

    [Test]
    public void Reserve_counts_a_failure_and_refuses_at_the_limit()
    {
        var throttle = new FailureThrottle(new FakeTimeProvider(), 2, Window, 100);

        Assert.That(throttle.TryReserve("k", out _, out _), Is.True);
        Assert.That(throttle.TryReserve("k", out _, out _), Is.True);
        Assert.That(throttle.TryReserve("k", out _, out TimeSpan retryAfter), Is.False);
        Assert.That(retryAfter, Is.EqualTo(Window));
        Assert.That(throttle.IsThrottled("k", out _), Is.True);
    }

    [Test]
    public void Released_reservation_gives_its_slot_back_and_an_empty_key_is_forgotten()
    {
        var throttle = new FailureThrottle(new FakeTimeProvider(), 1, Window, 100);
        Assert.That(throttle.TryReserve("k", out FailureThrottle.Reservation reservation, out _), Is.True);

        throttle.Release(reservation);

        Assert.That(throttle.Count, Is.Zero);
        Assert.That(throttle.TryReserve("k", out _, out _), Is.True);
    }

    [Test]
    public void Release_after_the_window_does_not_touch_the_next_window()
    {
        var time = new FakeTimeProvider();
        var throttle = new FailureThrottle(time, 1, Window, 100);
        Assert.That(throttle.TryReserve("k", out FailureThrottle.Reservation old, out _), Is.True);
        time.Advance(Window);
        throttle.RecordFailure("k");

        throttle.Release(old);
        throttle.Release(default);

        Assert.That(throttle.IsThrottled("k", out _), Is.True);
    }

    [Test]
    public void Concurrent_reservations_never_exceed_the_limit()
    {
        var throttle = new FailureThrottle(new FakeTimeProvider(), 5, Window, 100);
        int granted = 0;

        Parallel.For(0, 1000, attempt =>
        {
            if (throttle.TryReserve("k", out _, out _))
            {
                Interlocked.Increment(ref granted);
            }
        });

        Assert.That(granted, Is.EqualTo(5));
    }
}
