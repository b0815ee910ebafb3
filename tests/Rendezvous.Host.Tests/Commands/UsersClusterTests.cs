using System.Diagnostics;
using Rendezvous.Host.Commands;
using Rendezvous.Redis;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Commands;

/// <summary><c>users ... --cluster REDIS</c> on a real redis-server: the cluster's shared store instead of SQLite.</summary>
[NonParallelizable]
public sealed class UsersClusterTests : RedisTestBase
{
    private const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
    private const string Base32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task Add_list_show_rotate_and_remove_work_on_the_cluster_store()
    {
        CliResult added = await UsersAsync("add", Uuid, "--secret", Base32, "--step", "60");
        Assert.That(added.ExitCode, Is.Zero, added.Error);

        await using (RedisSecretStore cluster = RedisSecretStore.Create(new RedisClusterOptions { Configuration = Redis.EndPoint }))
        {
            SecretEntry? stored = await cluster.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short);
            Assert.That(stored?.Step, Is.EqualTo(60), "the node's store sees the entry at once");
        }

        CliResult duplicate = await UsersAsync("add", Uuid);
        CliResult listed = await UsersAsync("list");
        CliResult shown = await UsersAsync("show", Uuid, "--secret");
        CliResult rotated = await UsersAsync("rotate", Uuid);
        CliResult shownAfter = await UsersAsync("show", Uuid, "--secret");
        CliResult removed = await UsersAsync("remove", Uuid);
        CliResult removedAgain = await UsersAsync("remove", Uuid);
        CliResult listedAfter = await UsersAsync("list");

        Assert.Multiple(() =>
        {
            Assert.That(duplicate.ExitCode, Is.EqualTo(UsersCommand.BadInput));
            Assert.That(duplicate.Error, Does.Contain($"UUID {Uuid} already has a secret in the cluster store at Redis {Redis.EndPoint}"));
            Assert.That(listed.ExitCode, Is.Zero, listed.Error);
            Assert.That(listed.Output, Does.Contain(Uuid).And.Contain("60"));
            Assert.That(Cli.Value(shown.Output, "Secret:"), Is.EqualTo(Base32));
            Assert.That(rotated.ExitCode, Is.Zero, rotated.Error);
            Assert.That(Cli.Value(shownAfter.Output, "Secret:"), Is.Not.EqualTo(Base32).And.EqualTo(Cli.Value(rotated.Output, "Secret:")));
            Assert.That(removed.Output, Does.Contain($"Removed {Uuid}."));
            Assert.That(removedAgain.ExitCode, Is.EqualTo(UsersCommand.Failed));
            Assert.That(listedAfter.Output, Does.Not.Contain(Uuid));
            Assert.That(Directory.EnumerateFileSystemEntries(_directory.Path), Is.Empty, "no SQLite database is made");
        });
    }

    [Test]
    public async Task The_key_prefix_comes_from_the_cluster_prefix_variable_as_for_serve()
    {
        string? previous = Environment.GetEnvironmentVariable(UsersCommand.ClusterKeyPrefixVariable);
        Environment.SetEnvironmentVariable(UsersCommand.ClusterKeyPrefixVariable, "{cluster-b}:");
        try
        {
            CliResult added = await UsersAsync("add", Uuid);

            Assert.That(added.ExitCode, Is.Zero, added.Error);
            await using StackExchange.Redis.ConnectionMultiplexer redis = await Redis.ConnectAsync();
            Assert.That(await redis.GetDatabase().KeyExistsAsync("{cluster-b}:secret:" + Uuid).WaitAsync(TestTimeouts.Short), Is.True);
        }
        finally
        {
            Environment.SetEnvironmentVariable(UsersCommand.ClusterKeyPrefixVariable, previous);
        }

        Assert.That((await UsersAsync("show", Uuid)).ExitCode, Is.EqualTo(UsersCommand.Failed), "the default prefix is another cluster");
    }

    [TestCase("list")]
    [TestCase("add")]
    [TestCase("show", Uuid)]
    [TestCase("remove", Uuid)]
    public async Task An_unreachable_cluster_store_gives_a_clear_message_and_exit_code_within_seconds(params string[] command)
    {
        string configuration;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            configuration = $"127.0.0.1:{((System.Net.IPEndPoint)listener.LocalEndpoint).Port},password=not-shown";
        }

        var watch = Stopwatch.StartNew();
        CliResult result = await Cli.RunAsync(["users", .. command, "--data-dir", _directory.Path, "--cluster", configuration]);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
            Assert.That(result.Error, Does.StartWith($"Cannot use the cluster's Redis at {configuration.Split(',')[0]}"));
            Assert.That(result.Error, Does.Contain("(--cluster)").And.Contain("Check that redis-server listens there").And.Not.Contain("not-shown"));
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(8)));
        });
    }

    [Test]
    public async Task A_cluster_value_that_is_not_a_configuration_string_is_refused_naming_it()
    {
        CliResult result = await Cli.RunAsync("users", "list", "--cluster", "127.0.0.1:6379,nosuchoption=1");

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.BadInput));
        Assert.That(result.Error, Does.StartWith("--cluster: ").And.Contain("nosuchoption=1"));
    }

    private Task<CliResult> UsersAsync(params string[] arguments) =>
        Cli.RunAsync(["users", .. arguments, "--data-dir", _directory.Path, "--cluster", Redis.EndPoint]);
}
