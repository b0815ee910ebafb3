using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Protocol.Policy;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Redis.Tests;

/// <summary><c>AddRedisCluster()</c> with <c>AddTotpSecurity()</c> in either order: Redis holds the secrets and the counters.</summary>
[NonParallelizable]
public sealed class RedisStoresRegistrationTests : RedisTestBase
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [TestCase(true)]
    [TestCase(false)]
    public async Task The_policy_the_admin_entries_and_the_counters_use_redis_and_no_sqlite_file_is_made(bool securityFirst)
    {
        var services = new ServiceCollection();
        IRendezvousServerBuilder builder = services.AddRendezvousServerBuilderForTests();
        void Security() => builder.AddTotpSecurity(o => o.DatabasePath = _directory.Combine("rendezvous.db"));
        void Cluster() => builder.AddRedisCluster(o => o.Configuration = Redis.EndPoint);
        if (securityFirst)
        {
            Security();
            Cluster();
        }
        else
        {
            Cluster();
            Security();
        }

        await using ServiceProvider provider = services.BuildServiceProvider();
        var entries = provider.GetRequiredService<IRegistrationEntryStore>();
        RegistrationEntry? created = await entries.TryCreateAsync(
            "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab",
            new Dictionary<string, string> { ["step"] = "30", ["digits"] = "6" }).WaitAsync(TestTimeouts.Short);
        IReadOnlyList<RegistrationEntry> listed = await entries.ListAsync().WaitAsync(TestTimeouts.Short);
        RegistrationDecision decision = await provider.GetRequiredService<IRegistrationPolicy>()
            .AuthorizeAsync(new RegistrationRequest("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", "000000", System.Net.IPAddress.Loopback)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(provider.GetRequiredService<SecretStore>(), Is.InstanceOf<RedisSecretStore>());
            Assert.That(provider.GetRequiredService<IFailureCounterFactory>(), Is.InstanceOf<RedisFailureCounterFactory>());
            Assert.That(created, Is.Not.Null);
            Assert.That(listed.Select(e => e.Uuid), Is.EqualTo(new[] { "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab" }));
            Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
            Assert.That(System.IO.Directory.EnumerateFileSystemEntries(_directory.Path), Is.Empty, "no SQLite file in cluster mode");
        });

        await using var redis = await Redis.ConnectAsync();
        Assert.That(await redis.GetDatabase().KeyExistsAsync("rendezvous:secret:5f0c3f1e-8a3b-4c55-9d6e-0123456789ab").WaitAsync(TestTimeouts.Short), Is.True);
        Assert.That(await redis.GetDatabase().KeyExistsAsync("rendezvous:fail:uuid:5f0c3f1e-8a3b-4c55-9d6e-0123456789ab").WaitAsync(TestTimeouts.Short), Is.True);
    }
}
