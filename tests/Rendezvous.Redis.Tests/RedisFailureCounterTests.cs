using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;
using StackExchange.Redis;

namespace Rendezvous.Redis.Tests;

/// <summary><see cref="RedisFailureCounterFactory"/>'s counters on a real redis-server.</summary>
[NonParallelizable]
public sealed class RedisFailureCounterTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    private RedisServer _redis = null!;
    private RedisConnection _connection = null!;
    private ConnectionMultiplexer _inspector = null!;

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        Assume.That(RedisServer.IsInstalled, Is.True, "redis-server is not installed (eng/test.sh installs it)");
        _redis = await RedisServer.StartAsync();
        _connection = new RedisConnection(Options.Create(new RedisClusterOptions { Configuration = _redis.EndPoint }));
        _inspector = await _redis.ConnectAsync();
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        if (_redis is not null)
        {
            await _inspector.DisposeAsync();
            await _connection.DisposeAsync();
            await _redis.DisposeAsync();
        }
    }

    [SetUp]
    public Task FlushAsync() => _redis.FlushAllAsync();

    private IDatabase Inspect => _inspector.GetDatabase();

    [Test]
    public async Task The_limit_of_reservations_pass_then_the_key_is_throttled_for_the_rest_of_its_window()
    {
        IFailureCounter counter = Create(limit: 3);

        FailureSlot[] slots = [await counter.TryReserveAsync("k"), await counter.TryReserveAsync("k"), await counter.TryReserveAsync("k")];
        FailureSlot refused = await counter.TryReserveAsync("k");

        Assert.That(slots.Select(s => s.IsReserved), Is.All.True);
        Assert.That(slots.Select(s => s.Window).Distinct().Count(), Is.EqualTo(1), "one window");
        Assert.That(refused.IsReserved, Is.False);
        Assert.That(refused.RetryAfter, Is.GreaterThan(Window - TimeSpan.FromSeconds(10)).And.LessThanOrEqualTo(Window));
        Assert.That(await counter.GetRetryAfterAsync("k"), Is.GreaterThan(TimeSpan.Zero));
        Assert.That(await counter.GetRetryAfterAsync("other"), Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public async Task Counters_of_one_name_share_their_counts_across_connections()
    {
        await using var other = new RedisConnection(Options.Create(new RedisClusterOptions { Configuration = _redis.EndPoint }));
        IFailureCounter here = Create(limit: 2);
        IFailureCounter there = new RedisFailureCounterFactory(other).Create("test", 2, Window, 1);
        IFailureCounter otherName = new RedisFailureCounterFactory(other).Create("else", 2, Window, 1);

        await here.TryReserveAsync("k");
        await there.RecordFailureAsync("k");

        Assert.That((await there.TryReserveAsync("k")).IsReserved, Is.False);
        Assert.That((await here.TryReserveAsync("k")).IsReserved, Is.False);
        Assert.That((await otherName.TryReserveAsync("k")).IsReserved, Is.True);
    }

    [Test]
    public async Task Released_slots_are_given_back_and_an_empty_key_is_deleted()
    {
        IFailureCounter counter = Create(limit: 2);
        FailureSlot first = await counter.TryReserveAsync("k");
        FailureSlot second = await counter.TryReserveAsync("k");

        await counter.ReleaseAsync(second);
        Assert.That((await counter.TryReserveAsync("k")).IsReserved, Is.True, "one slot was free again");
        await counter.ReleaseAsync(first);
        await counter.ReleaseAsync(second);
        await counter.ReleaseAsync(default);

        Assert.That((long)await Inspect.HashGetAsync("rendezvous:fail:test:k", "n"), Is.EqualTo(0).Or.EqualTo(1));
        await counter.ClearAsync("k");
        Assert.That(await Inspect.KeyExistsAsync("rendezvous:fail:test:k"), Is.False);
    }

    [Test]
    public async Task A_slot_of_an_ended_window_never_touches_a_later_window()
    {
        IFailureCounter counter = Create(limit: 2);
        FailureSlot old = await counter.TryReserveAsync("k");

        // The window ends (its key expires); a new one begins with two failures, the limit.
        await Inspect.KeyDeleteAsync("rendezvous:fail:test:k");
        await counter.RecordFailureAsync("k");
        await counter.RecordFailureAsync("k");
        await counter.ReleaseAsync(old);

        Assert.That((await counter.TryReserveAsync("k")).IsReserved, Is.False, "the later window still has its two failures");
    }

    [Test]
    public async Task Every_counted_key_expires_with_its_window_so_a_flood_leaves_nothing_behind()
    {
        TimeSpan window = TimeSpan.FromSeconds(2);
        IFailureCounter counter = Create(limit: 5, window: window);
        for (int i = 0; i < 500; i++)
        {
            await counter.TryReserveAsync("flood-" + i);
        }

        IServer server = _inspector.GetServer(_redis.EndPoint);
        long withoutExpiry = 0;
        await foreach (RedisKey key in server.KeysAsync(pattern: "rendezvous:fail:*"))
        {
            // A key gone meanwhile has expired: fine.
            if (await Inspect.KeyTimeToLiveAsync(key) is { } ttl ? ttl > window : await Inspect.KeyExistsAsync(key))
            {
                withoutExpiry++;
            }
        }

        Assert.That(withoutExpiry, Is.Zero);
        using var deadline = new CancellationTokenSource(TestTimeouts.Short);
        while (await server.DatabaseSizeAsync() > 0)
        {
            await Task.Delay(50, deadline.Token);
        }
    }

    [Test]
    public async Task Retry_after_is_at_least_one_second()
    {
        IFailureCounter counter = Create(limit: 1, window: TimeSpan.FromMilliseconds(400));
        await counter.TryReserveAsync("k");

        FailureSlot refused = await counter.TryReserveAsync("k");

        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(await counter.GetRetryAfterAsync("k"), Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public void Out_of_range_arguments_are_refused()
    {
        var factory = new RedisFailureCounterFactory(_connection);

        Assert.Throws<ArgumentOutOfRangeException>(() => factory.Create("n", 0, Window, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => factory.Create("n", 1, TimeSpan.Zero, 1));
        Assert.Throws<ArgumentException>(() => factory.Create(string.Empty, 1, Window, 1));
    }

    private IFailureCounter Create(int limit, TimeSpan? window = null) => new RedisFailureCounterFactory(_connection).Create("test", limit, window ?? Window, 1);
}
