using Rendezvous.Host.Commands;
using Rendezvous.Redis;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Commands;

/// <summary><c>users import --from-redis ... --cluster ...</c>: an original database copied into a cluster's shared store.</summary>
public sealed partial class UsersImportTests
{
    private string ClusterConfiguration => $"{_redisWithPassword.EndPoint},password={Password}";

    [Test]
    public async Task Import_with_cluster_copies_into_the_cluster_store_and_creates_no_database()
    {
        await SetAsync((First, Original(First, Base32, step: 60)), (Second, Original(Second, OtherBase32)));

        CliResult result = await ImportAsync("--cluster", ClusterConfiguration);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        await using RedisSecretStore cluster = RedisSecretStore.Create(new RedisClusterOptions { Configuration = ClusterConfiguration });
        IReadOnlyList<SecretEntry> entries = await cluster.ListAsync().WaitAsync(TestTimeouts.Short);
        Assert.Multiple(() =>
        {
            Assert.That(entries.Select(e => e.Uuid), Is.EquivalentTo(new[] { First, Second }));
            Assert.That(SecretFormat.ToBase32(entries.Single(e => e.Uuid == First).Secret), Is.EqualTo(Base32));
            Assert.That(entries.Single(e => e.Uuid == First).Step, Is.EqualTo(60));
            Assert.That(Lines(result.Output)[0], Does.StartWith($"Importing Redis at {_redis.EndPoint} (db 0) into the cluster store at Redis {_redisWithPassword.EndPoint}"));
            Assert.That(result.Output + result.Error, Does.Not.Contain(Password));
            Assert.That(File.Exists(Path.Combine(_directory.Path, "rendezvous.db")), Is.False);
        });

        CliResult again = await ImportAsync("--cluster", ClusterConfiguration);
        Assert.That(Lines(again.Output), Does.Contain($"skipped {First}: already present in the secret store; not overwritten"));
    }

    [Test]
    public async Task Import_into_an_unreachable_cluster_store_says_so_and_fails()
    {
        await SetAsync((First, Original(First, Base32)));
        string unreachable = $"127.0.0.1:{UnusedPort()},password=not-shown";

        CliResult result = await ImportAsync("--cluster", unreachable);

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
        Assert.That(result.Error, Does.Contain("Cannot use the cluster's Redis at 127.0.0.1:").And.Contain("Check that redis-server listens there").And.Not.Contain("not-shown"));
    }

    private static int UnusedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
