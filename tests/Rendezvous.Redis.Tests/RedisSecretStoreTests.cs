using Rendezvous.Security;
using Rendezvous.Tests.Common;
using StackExchange.Redis;

namespace Rendezvous.Redis.Tests;

/// <summary>The store contract (<see cref="SecretStoreContractTests"/>) on a real redis-server, and what is Redis's own.</summary>
[NonParallelizable]
public sealed class RedisSecretStoreTests : SecretStoreContractTests
{
    private RedisServer _redis = null!;

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        Assume.That(RedisServer.IsInstalled, Is.True, "redis-server is not installed (eng/test.sh installs it)");
        _redis = await RedisServer.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [SetUp]
    public Task FlushAsync() => _redis.FlushAllAsync();

    [Test]
    public async Task Keys_are_a_hash_per_uuid_and_a_set_of_uuids_under_the_prefix()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);
        await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout);

        await using ConnectionMultiplexer redis = await _redis.ConnectAsync();
        IDatabase database = redis.GetDatabase();
        HashEntry[] fields = await database.HashGetAllAsync("test:secret:" + Uuid).WaitAsync(Timeout);

        Assert.That(fields.Select(f => f.Name.ToString()), Is.EquivalentTo(new[] { "secret", "step", "digits", "created", "last" }));
        Assert.That((long)fields.Single(f => f.Name == "last").Value, Is.EqualTo(100));
        Assert.That((await database.SetMembersAsync("test:secrets").WaitAsync(Timeout)).Select(m => m.ToString()), Is.EqualTo(new[] { Uuid }));
    }

    [Test]
    public async Task Stores_with_other_prefixes_do_not_see_each_other()
    {
        await Store().AddAsync(Entry(Uuid)).WaitAsync(Timeout);
        await using RedisSecretStore other = RedisSecretStore.Create(new RedisClusterOptions { Configuration = _redis.EndPoint, KeyPrefix = "other:" });

        Assert.That(await other.TryGetAsync(Uuid).WaitAsync(Timeout), Is.Null);
        Assert.That(await other.ListAsync().WaitAsync(Timeout), Is.Empty);
    }

    [Test]
    public void Invalid_options_are_refused_naming_the_value()
    {
        ArgumentException? thrown = Assert.Throws<ArgumentException>(() => RedisSecretStore.Create(new RedisClusterOptions { Configuration = "127.0.0.1:1,nosuchoption=1" }));

        Assert.That(thrown!.Message, Does.Contain("nosuchoption"));
    }

    [Test]
    public async Task A_store_whose_redis_does_not_answer_fails_within_seconds_and_says_why_without_the_password()
    {
        int port = FreePort();
        await using RedisSecretStore store = RedisSecretStore.Create(new RedisClusterOptions { Configuration = $"127.0.0.1:{port},password=hunter2" });

        var watch = System.Diagnostics.Stopwatch.StartNew();
        Exception? thrown = Assert.CatchAsync(() => store.TryGetAsync(Uuid).WaitAsync(Timeout));
        string? health = await store.CheckHealthAsync().WaitAsync(Timeout);

        Assert.That(thrown, Is.InstanceOf<RedisException>().Or.InstanceOf<RedisTimeoutException>());
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "two operations, each bounded by the 2-second connect and command timeouts");
        Assert.That(health, Does.Contain($"127.0.0.1:{port}").And.Not.Contain("hunter2"));
    }

    protected override SecretStore CreateStore() => RedisSecretStore.Create(new RedisClusterOptions { Configuration = _redis.EndPoint, KeyPrefix = "test:" });

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
