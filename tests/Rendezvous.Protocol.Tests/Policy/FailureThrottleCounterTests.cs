using Microsoft.Extensions.Time.Testing;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Policy;

/// <summary><see cref="FailureThrottle"/> as the in-process <see cref="IFailureCounter"/> that <see cref="MemoryFailureCounterFactory"/> creates.</summary>
public sealed class FailureThrottleCounterTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private FakeTimeProvider _time = null!;
    private IFailureCounter _counter = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider();
        _counter = new MemoryFailureCounterFactory(_time).Create("uuid", limit: 2, Window, maxKeys: 100);
    }

    [Test]
    public async Task Reservations_pass_up_to_the_limit_then_say_how_long_to_wait()
    {
        var first = await _counter.TryReserveAsync("k").AsTask().WaitAsync(TestTimeouts.Short);
        var second = await _counter.TryReserveAsync("k").AsTask().WaitAsync(TestTimeouts.Short);
        _time.Advance(TimeSpan.FromSeconds(20));
        var third = await _counter.TryReserveAsync("k").AsTask().WaitAsync(TestTimeouts.Short);

        Assert.Multiple(async () =>
        {
            Assert.That((first.IsReserved, second.IsReserved, third.IsReserved), Is.EqualTo((true, true, false)));
            Assert.That(third.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(40)));
            Assert.That(await _counter.GetRetryAfterAsync("k"), Is.EqualTo(TimeSpan.FromSeconds(40)));
            Assert.That(await _counter.GetRetryAfterAsync("other"), Is.EqualTo(TimeSpan.Zero));
        });
    }

    [Test]
    public async Task A_released_slot_is_given_back_but_only_in_its_own_window()
    {
        var old = await _counter.TryReserveAsync("k");
        _time.Advance(Window);
        await _counter.TryReserveAsync("k");
        await _counter.TryReserveAsync("k");

        await _counter.ReleaseAsync(old);

        Assert.That(await _counter.GetRetryAfterAsync("k"), Is.GreaterThan(TimeSpan.Zero), "a slot of an ended window must not free the current one");

        var fresh = await _counter.TryReserveAsync("x");
        await _counter.TryReserveAsync("x");
        await _counter.ReleaseAsync(fresh);
        Assert.That((await _counter.TryReserveAsync("x")).IsReserved, Is.True);
    }

    [Test]
    public async Task Recorded_failures_count_and_clear_forgets_them()
    {
        await _counter.RecordFailureAsync("k");
        await _counter.RecordFailureAsync("k");
        Assert.That(await _counter.GetRetryAfterAsync("k"), Is.GreaterThan(TimeSpan.Zero));

        await _counter.ClearAsync("k");

        Assert.That(await _counter.GetRetryAfterAsync("k"), Is.EqualTo(TimeSpan.Zero));
    }
}
