using System.Globalization;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Protocol.Policy;
using Rendezvous.Security;
using Rendezvous.Tests.Common;
using StackExchange.Redis;

namespace Rendezvous.Redis.Tests;

/// <summary>
/// The figures of docs/cluster.md's capacity model, measured on a real redis-server and printed: memory per secret entry
/// (<c>MEMORY USAGE</c> of one entry, and <c>used_memory</c> growth per entry over many, which includes the listing set)
/// and Redis commands per registration (<c>INFO commandstats</c> before and after N registrations through the policy).
/// Bounds are asserted so that a change that makes either much worse is seen.
/// </summary>
[NonParallelizable]
public sealed class RedisCapacityTests
{
    private const int Entries = 10_000;
    private const int Registrations = 200;
    private static readonly byte[] Secret = [.. Enumerable.Range(1, 20).Select(i => (byte)i)];

    private RedisServer _redis = null!;
    private ConnectionMultiplexer _admin = null!;

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        Assume.That(RedisServer.IsInstalled, Is.True, "redis-server is not installed (eng/test.sh installs it)");
        _redis = await RedisServer.StartAsync();
        _admin = await _redis.ConnectAsync();
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        if (_redis is not null)
        {
            await _admin.DisposeAsync();
            await _redis.DisposeAsync();
        }
    }

    [SetUp]
    public Task FlushAsync() => _redis.FlushAllAsync();

    private IServer Server => _admin.GetServer(_redis.EndPoint);

    [Test]
    public async Task Memory_per_secret_entry()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_010));
        await using var node = new RedisNode(_redis.EndPoint, time);
        await node.Store.AddAsync(new SecretEntry(Guid.NewGuid().ToString(), Secret, 30, 6, time.GetUtcNow())).WaitAsync(TestTimeouts.Short);
        long before = await UsedMemoryAsync();
        var adds = new List<Task>(Entries);
        string? one = null;
        for (int i = 0; i < Entries; i++)
        {
            string uuid = Guid.NewGuid().ToString();
            one ??= uuid;
            adds.Add(node.Store.AddAsync(new SecretEntry(uuid, SecretFormat.CreateRandomSecret(), 30, 6, time.GetUtcNow())));
        }

        await Task.WhenAll(adds).WaitAsync(TestTimeouts.Long);
        await node.Store.TryAdvanceLastStepAsync(one!, 56_666_667).WaitAsync(TestTimeouts.Short);
        long perEntry = (await UsedMemoryAsync() - before) / Entries;
        long oneEntry = (long)await _admin.GetDatabase().ExecuteAsync("MEMORY", "USAGE", "rendezvous:secret:" + one, "SAMPLES", "0").WaitAsync(TestTimeouts.Short);

        await node.Counters.Create("address", 20, TimeSpan.FromMinutes(1), 1).TryReserveAsync("203.0.113.7").AsTask().WaitAsync(TestTimeouts.Short);
        long oneCounter = (long)await _admin.GetDatabase().ExecuteAsync("MEMORY", "USAGE", "rendezvous:fail:address:203.0.113.7", "SAMPLES", "0").WaitAsync(TestTimeouts.Short);

        await TestContext.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"MEMORY USAGE of one entry (with its last step): {oneEntry} bytes; used_memory growth per entry over {Entries}: {perEntry} bytes; MEMORY USAGE of one failure counter: {oneCounter} bytes"));
        Assert.That(oneCounter, Is.LessThan(200));
        Assert.That(oneEntry, Is.LessThan(300));
        Assert.That(perEntry, Is.LessThan(400));
    }

    [Test]
    public async Task Redis_commands_per_registration()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_010));
        await using var node = new RedisNode(_redis.EndPoint, time);
        string uuid = Guid.NewGuid().ToString();
        await node.Store.AddAsync(new SecretEntry(uuid, Secret, 30, 6, time.GetUtcNow())).WaitAsync(TestTimeouts.Short);

        // Warm up (scripts loaded), then count: accepted registrations, each of a new time step, from a new address...
        await RegisterAsync(node, time, uuid, IPAddress.Parse("198.51.100.1"));
        (long accepted, long acceptedSent) = await CountCommandsAsync(async () =>
        {
            for (int i = 0; i < Registrations; i++)
            {
                await RegisterAsync(node, time, uuid, new IPAddress([10, 1, (byte)(i / 256), (byte)(i % 256)]));
            }
        });

        // ... and refused ones (a wrong code, each from its own address and for its own UUID so none is throttled).
        (long refused, long refusedSent) = await CountCommandsAsync(async () =>
        {
            for (int i = 0; i < Registrations; i++)
            {
                RegistrationDecision decision = await node.Policy.AuthorizeAsync(new RegistrationRequest(Guid.NewGuid().ToString(), "000000", new IPAddress([10, 2, (byte)(i / 256), (byte)(i % 256)]))).AsTask().WaitAsync(TestTimeouts.Short);
                Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
            }
        });

        await TestContext.Out.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"Per accepted registration: {(double)acceptedSent / Registrations:0.##} commands sent by the node (round trips), {(double)accepted / Registrations:0.##} executed by Redis (with those inside scripts); per refused one: {(double)refusedSent / Registrations:0.##} sent, {(double)refused / Registrations:0.##} executed"));
        Assert.That((double)acceptedSent / Registrations, Is.LessThanOrEqualTo(7));
        Assert.That((double)refusedSent / Registrations, Is.LessThanOrEqualTo(3));
        Assert.That((double)accepted / Registrations, Is.LessThanOrEqualTo(25));
    }

    private static async Task RegisterAsync(RedisNode node, FakeTimeProvider time, string uuid, IPAddress address)
    {
        string code = new Totp(Secret, 30, OtpHashMode.Sha1, 6).ComputeTotp(time.GetUtcNow().UtcDateTime);
        RegistrationDecision decision = await node.Policy.AuthorizeAsync(new RegistrationRequest(uuid, code, address)).AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
        time.Advance(TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// The commands Redis ran during <paramref name="run"/>, from <c>INFO commandstats</c> (without the measuring commands):
    /// all of them, and those the node sent (scripts and the commands the stores send themselves, not the ones scripts run).
    /// </summary>
    private async Task<(long Executed, long Sent)> CountCommandsAsync(Func<Task> run)
    {
        await Server.ConfigResetStatisticsAsync().WaitAsync(TestTimeouts.Short);
        await run();
        IGrouping<string, KeyValuePair<string, string>>[] stats = await Server.InfoAsync("stats").WaitAsync(TestTimeouts.Short);
        await TestContext.Out.WriteLineAsync("  total_commands_processed: " + stats.SelectMany(group => group).Single(pair => pair.Key == "total_commands_processed").Value);
        IGrouping<string, KeyValuePair<string, string>>[] info = await Server.InfoAsync("commandstats").WaitAsync(TestTimeouts.Short);
        long total = 0;
        long sent = 0;
        foreach (KeyValuePair<string, string> stat in info.SelectMany(group => group))
        {
            if (stat.Key is "cmdstat_info" or "cmdstat_config|resetstat" or "cmdstat_config")
            {
                continue;
            }

            string calls = stat.Value.Split(',')[0];
            long count = long.Parse(calls["calls=".Length..], CultureInfo.InvariantCulture);
            total += count;
            if (stat.Key is "cmdstat_evalsha" or "cmdstat_eval" or "cmdstat_hmget" or "cmdstat_unlink" or "cmdstat_smembers" or "cmdstat_ping")
            {
                sent += count;
            }

            await TestContext.Out.WriteLineAsync($"  {stat.Key}: {calls}");
        }

        return (total, sent);
    }

    private async Task<long> UsedMemoryAsync()
    {
        IGrouping<string, KeyValuePair<string, string>>[] info = await Server.InfoAsync("memory").WaitAsync(TestTimeouts.Short);
        return long.Parse(info.SelectMany(group => group).Single(pair => pair.Key == "used_memory").Value, CultureInfo.InvariantCulture);
    }
}
