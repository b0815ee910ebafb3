using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Protocol.Policy;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Redis.Tests;

/// <summary>
/// The TOTP policy of two nodes, each with its own connection to one real redis-server: a code is accepted by one node
/// only, failures through one node throttle the other, and Redis going away answers "unavailable" promptly and recovers
/// by itself when Redis is back.
/// </summary>
[NonParallelizable]
public sealed class RedisPolicyTests : RedisTestBase
{
    private const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
    private static readonly byte[] Secret = [.. Enumerable.Range(1, 20).Select(i => (byte)i)];
    private static readonly IPAddress AddressA = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress AddressB = IPAddress.Parse("192.0.2.2");

    private FakeTimeProvider _time = null!;

    protected override bool Persistent => true;

    [SetUp]
    public async Task SetUpAsync()
    {
        _time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_010));
        await using var node = new RedisNode(Redis.EndPoint, _time);
        await node.Store.AddAsync(new SecretEntry(Uuid, Secret, 30, 6, _time.GetUtcNow())).WaitAsync(TestTimeouts.Short);
    }

    [Test]
    public async Task Two_nodes_racing_one_right_code_accept_it_exactly_once_every_time()
    {
        await using var a = new RedisNode(Redis.EndPoint, _time);
        await using var b = new RedisNode(Redis.EndPoint, _time);
        var outcomes = new List<(RegistrationOutcome, RegistrationOutcome)>();

        for (int round = 0; round < 50; round++)
        {
            string code = Code();
            RegistrationDecision[] decisions = await Task.WhenAll(
                Task.Run(() => a.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, code, AddressA)).AsTask()),
                Task.Run(() => b.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, code, AddressB)).AsTask())).WaitAsync(TestTimeouts.Short);
            outcomes.Add((decisions[0].Outcome, decisions[1].Outcome));
            _time.Advance(TimeSpan.FromSeconds(30));
        }

        Assert.That(
            outcomes.Where(o => new[] { o.Item1, o.Item2 }.Count(x => x == RegistrationOutcome.Accepted) != 1
                || new[] { o.Item1, o.Item2 }.Count(x => x == RegistrationOutcome.Rejected) != 1),
            Is.Empty,
            "each round: one node accepts, the other refuses the replay");
    }

    [Test]
    public async Task Failures_through_one_node_throttle_the_uuid_on_the_other()
    {
        await using var a = new RedisNode(Redis.EndPoint, _time);
        await using var b = new RedisNode(Redis.EndPoint, _time);
        int limit = new TotpSecurityOptions().MaxFailuresPerUuid;
        for (int i = 0; i < limit; i++)
        {
            var address = IPAddress.Parse("198.51.100." + (i + 1));
            Assert.That((await a.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, WrongCode(), address)).AsTask().WaitAsync(TestTimeouts.Short)).Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
        }

        RegistrationDecision decision = await b.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, Code(), AddressB)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
        Assert.That(decision.RetryAfter, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)).And.LessThanOrEqualTo(new TotpSecurityOptions().FailureWindow));
    }

    [Test]
    public async Task Failures_through_one_node_throttle_the_address_on_the_other()
    {
        await using var a = new RedisNode(Redis.EndPoint, _time);
        await using var b = new RedisNode(Redis.EndPoint, _time);
        int limit = new TotpSecurityOptions().MaxFailuresPerAddress;
        for (int i = 0; i < limit; i++)
        {
            Assert.That((await a.Policy.AuthorizeAsync(new RegistrationRequest(Guid.NewGuid().ToString(), "000000", AddressA)).AsTask().WaitAsync(TestTimeouts.Short)).Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
        }

        RegistrationDecision decision = await b.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, Code(), AddressA)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task Accepted_and_replayed_codes_give_their_slots_back_on_the_shared_counters()
    {
        await using var a = new RedisNode(Redis.EndPoint, _time);
        await using var b = new RedisNode(Redis.EndPoint, _time);
        int limit = new TotpSecurityOptions().MaxFailuresPerUuid;

        // Twice the limit of right codes, each replayed on the other node: none of them is a failure.
        for (int i = 0; i < limit * 2; i++)
        {
            string code = Code();
            Assert.That((await a.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, code, AddressA)).AsTask().WaitAsync(TestTimeouts.Short)).Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
            Assert.That((await b.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, code, AddressB)).AsTask().WaitAsync(TestTimeouts.Short)).Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
            _time.Advance(TimeSpan.FromSeconds(30));
        }

        await using var redis = await Redis.ConnectAsync();
        Assert.That(await redis.GetDatabase().KeyExistsAsync("rendezvous:fail:uuid:" + Uuid).WaitAsync(TestTimeouts.Short), Is.False);
    }

    [Test]
    public async Task Redis_killed_answers_unavailable_promptly_and_registrations_work_again_when_it_is_back()
    {
        await using var node = new RedisNode(Redis.EndPoint, _time);
        string before = Code();
        Assert.That((await node.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, before, AddressA)).AsTask().WaitAsync(TestTimeouts.Short)).Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
        _time.Advance(TimeSpan.FromSeconds(30));

        await Redis.KillAsync();
        var watch = Stopwatch.StartNew();
        RegistrationDecision down = await node.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, Code(), AddressA)).AsTask().WaitAsync(TestTimeouts.Short);
        TimeSpan took = watch.Elapsed;
        string? health = await node.Store.CheckHealthAsync().WaitAsync(TestTimeouts.Short);

        Assert.That(down.Outcome, Is.EqualTo(RegistrationOutcome.Unavailable));
        Assert.That(took, Is.LessThan(TimeSpan.FromSeconds(3)));
        Assert.That(health, Does.Contain(Redis.EndPoint));

        await Redis.RestartAsync();
        RegistrationDecision again = await UntilAvailableAsync(() => node.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, Code(), AddressA)).AsTask());

        Assert.That(again.Outcome, Is.EqualTo(RegistrationOutcome.Accepted), "the secret was kept by the append-only file");
        Assert.That((await node.Policy.AuthorizeAsync(new RegistrationRequest(Uuid, before, AddressB)).AsTask().WaitAsync(TestTimeouts.Short)).Outcome, Is.EqualTo(RegistrationOutcome.Rejected), "the step accepted before the kill stays spent");
        Assert.That(await node.Store.CheckHealthAsync().WaitAsync(TestTimeouts.Short), Is.Null);
    }

    /// <summary>Repeats <paramref name="attempt"/> while it answers unavailable (the connection coming back), for at most a while.</summary>
    private static async Task<RegistrationDecision> UntilAvailableAsync(Func<Task<RegistrationDecision>> attempt)
    {
        using var deadline = new CancellationTokenSource(TestTimeouts.Long);
        while (true)
        {
            RegistrationDecision decision = await attempt().WaitAsync(TestTimeouts.Short);
            if (decision.Outcome != RegistrationOutcome.Unavailable)
            {
                return decision;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), deadline.Token);
        }
    }

    private string Code() => new Totp(Secret, 30, OtpHashMode.Sha1, 6).ComputeTotp(_time.GetUtcNow().UtcDateTime);

    private string WrongCode()
    {
        string[] accepted = [.. new[] { -1, 0, 1 }.Select(s => new Totp(Secret, 30, OtpHashMode.Sha1, 6).ComputeTotp(_time.GetUtcNow().UtcDateTime.AddSeconds(s * 30)))];
        return new[] { "000000", "111111", "222222", "333333" }.First(c => !accepted.Contains(c));
    }
}
