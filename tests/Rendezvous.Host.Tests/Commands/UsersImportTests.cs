using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Rendezvous.Host.Commands;
using Rendezvous.Redis;
using Rendezvous.Security;
using Rendezvous.Tests.Common;
using StackExchange.Redis;

namespace Rendezvous.Host.Tests.Commands;

/// <summary>
/// <c>users import --from-redis</c> against real redis-servers holding an original node-rendezvous database:
/// one without a password, one that requires <see cref="Password"/>.
/// </summary>
[NonParallelizable]
public sealed partial class UsersImportTests
{
    private const string First = "2f402f80-da50-11e1-9b23-000000000000";
    private const string Second = "2f402f80-da50-11e1-9b23-14109fe5a283";

    // 40 bytes, as the original's speakeasy made them.
    private const string Base32 = "KBFU2TDPM53DOU2GJRFHKYSQJF3GO2KSII3XCNTMG5KW26DNIFWXINSOJZDVOQ3Z";
    private const string OtherBase32 = "GFQTAM2SIVDUWUSJIN2VO2LMMZ4W6NDRHBCFA4CQJBXWGVCOPBREISCMHFCEOQ3U";

    private const string Password = "correct horse battery staple";

    private RedisServer _redis = null!;
    private RedisServer _redisWithPassword = null!;
    private TemporaryDirectory _directory = null!;
    private string? _previousAuth;

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        Assume.That(RedisServer.IsInstalled, Is.True, "redis-server is not installed (eng/test.sh installs it)");
        _redis = await RedisServer.StartAsync();
        _redisWithPassword = await RedisServer.StartAsync(Password);
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        foreach (RedisServer? server in new[] { _redis, _redisWithPassword })
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }
        }
    }

    [SetUp]
    public async Task SetUpAsync()
    {
        _directory = new TemporaryDirectory();
        _previousAuth = Environment.GetEnvironmentVariable(UsersCommand.RedisPasswordVariable);
        Environment.SetEnvironmentVariable(UsersCommand.RedisPasswordVariable, null);
        await _redis.FlushAllAsync();
        await _redisWithPassword.FlushAllAsync();
    }

    [TearDown]
    public void TearDown()
    {
        Environment.SetEnvironmentVariable(UsersCommand.RedisPasswordVariable, _previousAuth);
        _directory.Dispose();
    }

    private SqliteSecretStore Store => SqliteSecretStore.ForDataDirectory(_directory.Path);

    /// <summary>A value as the original wrote it (with the fields that do not matter here too).</summary>
    private static string Original(string uuid, string base32, int? step = 30)
    {
        var authParams = new JsonObject
        {
            ["algorithm"] = "sha1",
            ["length"] = 40,
            ["name"] = uuid,
            ["issuer"] = "https://192.0.2.1:8898",
            ["base32"] = base32,
            ["protocol"] = "totp",
        };
        if (step is not null)
        {
            authParams["step"] = step;
        }

        return new JsonObject
        {
            ["uuid"] = uuid,
            ["authURL"] = $"otpauth://totp/{uuid}?secret={base32}",
            ["authParams"] = authParams,
        }.ToJsonString();
    }

    [Test]
    public async Task Import_copies_each_valid_entry_with_its_secret_and_step_and_six_digits()
    {
        await SetAsync((First, Original(First, Base32, step: 60)), (Second, Original(Second, OtherBase32, step: null)));

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        SecretEntry first = (await Store.TryGetAsync(First).WaitAsync(TestTimeouts.Short))!;
        SecretEntry second = (await Store.TryGetAsync(Second).WaitAsync(TestTimeouts.Short))!;
        Assert.Multiple(() =>
        {
            Assert.That(SecretFormat.ToBase32(first.Secret), Is.EqualTo(Base32));
            Assert.That(first.Step, Is.EqualTo(60));
            Assert.That(first.Digits, Is.EqualTo(6));
            Assert.That(SecretFormat.ToBase32(second.Secret), Is.EqualTo(OtherBase32));
            Assert.That(second.Step, Is.EqualTo(30), "a missing step is the original's default, 30 s");
            Assert.That(Lines(result.Output), Does.Contain($"imported {First} (step 60 s, 6 digits)"));
            Assert.That(Lines(result.Output), Does.Contain($"imported {Second} (step 30 s, 6 digits)"));
            Assert.That(Lines(result.Output), Does.Contain("Keys scanned: 2, imported: 2, skipped: 0."));
        });
    }

    [TestCase("Importing", "into")]
    [TestCase("Dry run: comparing", "with", "--dry-run")]
    public async Task Import_first_names_the_redis_it_reads_and_the_database_it_writes(string verb, string preposition, params string[] options)
    {
        CliResult result = await ImportAsync(options);

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output)[0], Is.EqualTo($"{verb} Redis at {_redis.EndPoint} (db 0) {preposition} {Path.Combine(_directory.Path, "rendezvous.db")}"));
    }

    [Test]
    public async Task Import_never_prints_a_secret()
    {
        await SetAsync((First, Original(First, Base32)), (Second, Original(Second, "JBSWY3DPEHPK3PX")));

        CliResult result = await ImportAsync();

        Assert.That(result.Output + result.Error, Does.Not.Contain(Base32).And.Not.Contain("JBSWY3DPEHPK3PX"));
    }

    [TestCase("{not json", "the value is not JSON")]
    [TestCase("\"a JSON string\"", "the value has no \"authParams\" object")]
    [TestCase("{\"uuid\":\"x\"}", "the value has no \"authParams\" object")]
    [TestCase("{\"authParams\":\"totp\"}", "the value has no \"authParams\" object")]
    [TestCase("{\"authParams\":{\"protocol\":\"hotp\",\"base32\":\"" + Base32 + "\"}}", "authParams.protocol is \"hotp\", not \"totp\"")]
    [TestCase("{\"authParams\":{\"base32\":\"" + Base32 + "\"}}", "authParams.protocol is missing, not \"totp\"")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"algorithm\":\"sha256\",\"base32\":\"" + Base32 + "\"}}", "authParams.algorithm is \"sha256\"; only \"sha1\" is supported")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"base32\":\"JBSWY3DPEHPK3PX\"}}", "authParams.base32 is missing or not base32 of at least 80 bits")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"base32\":\"NOT-BASE32!\"}}", "authParams.base32 is missing or not base32 of at least 80 bits")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\"}}", "authParams.base32 is missing or not base32 of at least 80 bits")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"base32\":\"" + Base32 + "\",\"step\":0}}", "authParams.step is 0; expected a whole number of seconds from 1 to 300")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"base32\":\"" + Base32 + "\",\"step\":\"30\"}}", "authParams.step is \"30\"; expected a whole number of seconds from 1 to 300")]
    [TestCase("{\"authParams\":{\"protocol\":\"totp\",\"base32\":\"" + Base32 + "\",\"digits\":9}}", "authParams.digits is 9; expected a whole number from 6 to 8")]
    public async Task Import_skips_a_bad_value_saying_why_and_stores_nothing(string value, string reason)
    {
        await SetAsync((First, value));

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output), Does.Contain($"skipped {First}: {reason}"));
        Assert.That(Lines(result.Output), Does.Contain("Keys scanned: 1, imported: 0, skipped: 1."));
        Assert.That(await Store.ListAsync().WaitAsync(TestTimeouts.Short), Is.Empty);
    }

    [Test]
    public async Task Import_skips_a_key_that_is_not_a_uuid_naming_it()
    {
        await SetAsync(("session:42", Original(First, Base32)));

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output), Does.Contain("skipped 'session:42': the key is not a UUID"));
        Assert.That(await Store.ListAsync().WaitAsync(TestTimeouts.Short), Is.Empty);
    }

    [Test]
    public async Task Import_skips_a_key_that_holds_a_hash_naming_its_type()
    {
        await using (ConnectionMultiplexer redis = await _redis.ConnectAsync())
        {
            await redis.GetDatabase().HashSetAsync(First, "authParams", Original(First, Base32)).WaitAsync(TestTimeouts.Short);
        }

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output), Does.Contain($"skipped {First}: the value is a hash, not a string"));
    }

    [Test]
    public async Task Import_skips_a_value_over_the_size_limit_without_reading_it_all()
    {
        string huge = Original(First, Base32)[..^1] + ",\"padding\":\"" + new string('x', NodeRendezvousImporter.MaxValueBytes) + "\"}";
        await SetAsync((First, huge));

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output), Does.Contain($"skipped {First}: the value is over {NodeRendezvousImporter.MaxValueBytes} bytes"));
    }

    [Test]
    public async Task Import_keeps_an_entry_already_in_the_store_and_says_so()
    {
        var existing = new SecretEntry(First, SecretFormat.CreateRandomSecret(), 30, 6, DateTimeOffset.UnixEpoch);
        await Store.AddAsync(existing).WaitAsync(TestTimeouts.Short);
        await SetAsync((First, Original(First, Base32)));

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output), Does.Contain($"skipped {First}: already present in the secret store; not overwritten"));
        Assert.That((await Store.TryGetAsync(First).WaitAsync(TestTimeouts.Short))!.Secret, Is.EqualTo(existing.Secret));
    }

    [Test]
    public async Task Import_takes_the_first_of_two_keys_for_the_same_uuid()
    {
        await SetAsync((First, Original(First, Base32)), (First.ToUpperInvariant(), Original(First, OtherBase32)));

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output).Count(line => line.StartsWith($"imported {First}", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(Lines(result.Output), Does.Contain($"skipped {First}: already present in the secret store; not overwritten"));
    }

    [Test]
    public async Task Dry_run_reports_what_it_would_import_and_writes_nothing()
    {
        await Store.AddAsync(new SecretEntry(Second, SecretFormat.CreateRandomSecret(), 30, 6, DateTimeOffset.UnixEpoch)).WaitAsync(TestTimeouts.Short);
        await SetAsync((First, Original(First, Base32)), (First.ToUpperInvariant(), Original(First, Base32)), (Second, Original(Second, OtherBase32)));

        CliResult result = await ImportAsync("--dry-run");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.Multiple(async () =>
        {
            Assert.That(Lines(result.Output), Does.Contain($"would import {First} (step 30 s, 6 digits)"));
            Assert.That(Lines(result.Output), Does.Contain($"skipped {First}: already present in the secret store; not overwritten"));
            Assert.That(Lines(result.Output), Does.Contain($"skipped {Second}: already present in the secret store; not overwritten"));
            Assert.That(Lines(result.Output), Does.Contain("Dry run, nothing written. Keys scanned: 3, would import: 1, skipped: 2."));
            Assert.That(await Store.TryGetAsync(First).WaitAsync(TestTimeouts.Short), Is.Null);
        });
    }

    [Test]
    public async Task Import_walks_every_page_of_the_scan()
    {
        // Several SCAN pages: the importer asks for 250 keys a page.
        const int Keys = 700;
        await using (ConnectionMultiplexer redis = await _redis.ConnectAsync())
        {
            KeyValuePair<RedisKey, RedisValue>[] pairs = Enumerable.Range(0, Keys)
                .Select(i => new KeyValuePair<RedisKey, RedisValue>(Guid.NewGuid().ToString("D"), i % 2 == 0 ? "{}" : "not json"))
                .ToArray();
            await redis.GetDatabase().StringSetAsync(pairs).WaitAsync(TestTimeouts.Short);
        }

        await SetAsync((First, Original(First, Base32)));

        CliResult result = await ImportAsync();

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output), Does.Contain(string.Create(CultureInfo.InvariantCulture, $"Keys scanned: {Keys + 1}, imported: 1, skipped: {Keys}.")));
        Assert.That(await Store.TryGetAsync(First).WaitAsync(TestTimeouts.Short), Is.Not.Null);
    }

    [Test]
    public async Task Import_keeps_only_the_uuid_keys_in_memory_not_the_rest_of_a_shared_database()
    {
        const int OtherKeys = 2000;
        await using ConnectionMultiplexer redis = await _redis.ConnectAsync();
        KeyValuePair<RedisKey, RedisValue>[] pairs = Enumerable.Range(0, OtherKeys)
            .Select(i => new KeyValuePair<RedisKey, RedisValue>(string.Create(CultureInfo.InvariantCulture, $"sessions:{i}"), "x"))
            .ToArray();
        await redis.GetDatabase().StringSetAsync(pairs).WaitAsync(TestTimeouts.Short);
        await SetAsync((First, Original(First, Base32)), (Second, "not json"));
        var importer = new NodeRendezvousImporter(Store, TextWriter.Null, dryRun: false, TimeProvider.System);

        await importer.ImportAsync(redis.GetDatabase()).WaitAsync(TestTimeouts.Long);

        Assert.Multiple(() =>
        {
            Assert.That(importer.Scanned, Is.EqualTo(OtherKeys + 2));
            Assert.That(importer.Imported, Is.EqualTo(1));
            Assert.That(importer.RememberedKeys, Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Import_reads_the_database_given_with_db()
    {
        await using (ConnectionMultiplexer redis = await _redis.ConnectAsync())
        {
            await redis.GetDatabase(3).StringSetAsync(Second, Original(Second, OtherBase32)).WaitAsync(TestTimeouts.Short);
        }

        await SetAsync((First, Original(First, Base32)));

        CliResult result = await ImportAsync("--db", "3");

        Assert.That(result.ExitCode, Is.Zero, result.Error);
        Assert.That(Lines(result.Output), Does.Contain($"imported {Second} (step 30 s, 6 digits)"));
        Assert.That(await Store.TryGetAsync(First).WaitAsync(TestTimeouts.Short), Is.Null);
    }

    [Test]
    public async Task Import_from_a_port_nobody_listens_on_fails_naming_the_endpoint()
    {
        int closedPort;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            closedPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        string endpoint = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{closedPort}");
        CliResult result = await Cli.RunAsync("users", "import", "--from-redis", endpoint, "--data-dir", _directory.Path);

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
        Assert.That(result.Error, Does.Contain($"Cannot connect to Redis at {endpoint}"));
    }

    [TestCase("localhost")]
    [TestCase("127.0.0.1:0")]
    [TestCase("127.0.0.1:65536")]
    [TestCase("::1:6379")]
    public async Task Import_with_a_malformed_endpoint_fails_naming_it(string endpoint)
    {
        CliResult result = await Cli.RunAsync("users", "import", "--from-redis", endpoint, "--data-dir", _directory.Path);

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.BadInput));
        Assert.That(result.Error, Does.Contain($"--from-redis '{endpoint}' is not HOST:PORT"));
    }

    [Test]
    public async Task Import_with_a_negative_db_fails_naming_it()
    {
        CliResult result = await ImportAsync("--db", "-1");

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.BadInput));
        Assert.That(result.Error, Does.Contain("--db -1"));
    }

    [Test]
    public async Task Import_from_a_db_the_server_does_not_have_fails_naming_it()
    {
        CliResult result = await ImportAsync("--db", "99");

        Assert.That(result.ExitCode, Is.EqualTo(UsersCommand.Failed));
        Assert.That(result.Error, Does.Contain("(db 99)").And.Contain("incomplete"));
    }

    private Task<CliResult> ImportAsync(params string[] options) => ImportFromAsync(_redis, options);

    private Task<CliResult> ImportFromAsync(RedisServer server, params string[] options) =>
        Cli.RunAsync(["users", "import", "--from-redis", server.EndPoint, "--data-dir", _directory.Path, .. options]);

    private Task SetAsync(params (string Key, string Value)[] pairs) => SetAsync(_redis, pairs);

    private static async Task SetAsync(RedisServer server, params (string Key, string Value)[] pairs)
    {
        await using ConnectionMultiplexer redis = await server.ConnectAsync();
        foreach ((string key, string value) in pairs)
        {
            await redis.GetDatabase().StringSetAsync(key, value).WaitAsync(TestTimeouts.Short);
        }
    }

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
