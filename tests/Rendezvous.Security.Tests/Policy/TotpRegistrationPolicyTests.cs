using System.Net;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Security.Tests.Policy;

public sealed partial class TotpRegistrationPolicyTests
{
    private const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
    private const string OtherUuid = "00000000-0000-0000-0000-0000000000aa";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly IPAddress Address = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress OtherAddress = IPAddress.Parse("192.0.2.2");
    private static readonly byte[] Secret = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];

    private TemporaryDirectory _directory = null!;
    private FakeTimeProvider _time = null!;
    private SqliteSecretStore _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _directory = new TemporaryDirectory();
        _time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_010));
        _store = new SqliteSecretStore(_directory.Combine("rendezvous.db"));
        await _store.AddAsync(new SecretEntry(Uuid, Secret, 30, 6, _time.GetUtcNow())).WaitAsync(Timeout);
    }

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task Current_code_is_accepted()
    {
        TotpRegistrationPolicy policy = CreatePolicy();

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Upper_case_uuid_is_accepted()
    {
        TotpRegistrationPolicy policy = CreatePolicy();

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid.ToUpperInvariant(), Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Wrong_code_is_rejected()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        string wrong = ((int.Parse(Code(), System.Globalization.CultureInfo.InvariantCulture) + 1) % 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, wrong).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [TestCase("abcdef")]
    [TestCase("12345")]
    [TestCase("")]
    [TestCase("123456789")]
    public async Task Malformed_code_is_rejected(string response)
    {
        TotpRegistrationPolicy policy = CreatePolicy();

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, response).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [Test]
    public async Task Unknown_uuid_is_rejected()
    {
        TotpRegistrationPolicy policy = CreatePolicy();

        RegistrationDecision decision = await AuthorizeAsync(policy, OtherUuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [Test]
    public async Task Malformed_uuid_is_rejected()
    {
        TotpRegistrationPolicy policy = CreatePolicy();

        RegistrationDecision decision = await AuthorizeAsync(policy, "not-a-uuid", Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [Test]
    public async Task Replayed_code_is_rejected()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        string code = Code();
        await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [Test]
    public async Task Replayed_code_is_rejected_after_restart()
    {
        string code = Code();
        await AuthorizeAsync(CreatePolicy(), Uuid, code).WaitAsync(Timeout);

        var restartedStore = new SqliteSecretStore(_directory.Combine("rendezvous.db"));
        RegistrationDecision decision = await AuthorizeAsync(CreatePolicy(restartedStore), Uuid, code).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Replays_of_an_accepted_code_are_not_throttled_and_the_next_step_is_accepted(bool restartFirst)
    {
        // Ten replays: twice the UUID's limit and five times the address's, so neither throttle may count them.
        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxFailuresPerAddress = 2);
        string code = Code();
        await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);
        if (restartFirst)
        {
            policy = CreatePolicy(new SqliteSecretStore(_directory.Combine("rendezvous.db")), o => o.MaxFailuresPerAddress = 2);
        }

        for (int i = 0; i < 10; i++)
        {
            RegistrationDecision replay = await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);
            Assert.That(replay.Outcome, Is.EqualTo(RegistrationOutcome.Rejected), $"replay {i + 1}");
        }

        _time.Advance(TimeSpan.FromSeconds(30));
        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Wrong_codes_are_still_throttled_after_replays()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        string code = Code();
        await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);
        await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);
        await FailAsync(policy, Uuid, 5, Address);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task Older_step_after_a_newer_one_is_rejected()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await AuthorizeAsync(policy, Uuid, Code(TimeSpan.FromSeconds(30))).WaitAsync(Timeout);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [Test]
    public async Task Code_of_a_later_step_is_accepted_after_an_earlier_one()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);
        _time.Advance(TimeSpan.FromSeconds(30));

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Concurrent_identical_codes_are_accepted_exactly_once()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxFailuresPerUuid = 1000);
        string code = Code();

        RegistrationDecision[] decisions = await Task.WhenAll(Enumerable.Range(0, 16)
            .Select(_ => Task.Run(() => AuthorizeAsync(policy, Uuid, code)))).WaitAsync(Timeout);

        Assert.That(decisions.Count(d => d.Outcome == RegistrationOutcome.Accepted), Is.EqualTo(1));
    }

    [Test]
    public async Task Secret_added_by_another_store_instance_is_used_at_once()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await policy.AuthorizeAsync(new RegistrationRequest(Uuid, Code(), Address)).AsTask().WaitAsync(Timeout);
        var cli = new SqliteSecretStore(_directory.Combine("rendezvous.db"));
        await cli.AddAsync(new SecretEntry(OtherUuid, Secret, 30, 6, _time.GetUtcNow())).WaitAsync(Timeout);

        RegistrationDecision decision = await AuthorizeAsync(policy, OtherUuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Uuid_is_throttled_after_five_failures_with_retry_after()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await FailAsync(policy, Uuid, 5, Address);
        _time.Advance(TimeSpan.FromSeconds(10));

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, "000000", OtherAddress).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
        Assert.That(decision.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(50)));
    }

    [Test]
    public async Task Fifth_failure_itself_is_rejected_not_throttled()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await FailAsync(policy, Uuid, 4, Address);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, "000000").WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [Test]
    public async Task Throttled_uuid_is_refused_even_with_the_right_code()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await FailAsync(policy, Uuid, 5, Address);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code(), OtherAddress).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task Throttled_attempt_does_not_use_up_the_code()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.FailureWindow = TimeSpan.FromSeconds(5));
        await FailAsync(policy, Uuid, 5, Address);
        string code = Code();
        await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);
        _time.Advance(TimeSpan.FromSeconds(5));

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, code).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Uuid_throttle_ends_when_the_window_expires()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await FailAsync(policy, Uuid, 5, Address);
        _time.Advance(TimeSpan.FromSeconds(60));

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Success_clears_the_uuid_failure_count()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await FailAsync(policy, Uuid, 4, Address);
        await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);
        await FailAsync(policy, Uuid, 4, Address);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, "000000").WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
    }

    [Test]
    public async Task Address_is_throttled_after_twenty_failures()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        for (int i = 0; i < 20; i++)
        {
            await AuthorizeAsync(policy, Guid.NewGuid().ToString(), "000000", Address).WaitAsync(Timeout);
        }

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code(), Address).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
        Assert.That(decision.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(60)));
    }

    [Test]
    public async Task Address_throttle_does_not_affect_other_addresses()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        for (int i = 0; i < 20; i++)
        {
            await AuthorizeAsync(policy, Guid.NewGuid().ToString(), "000000", Address).WaitAsync(Timeout);
        }

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code(), OtherAddress).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Ipv6_addresses_in_one_64_share_a_throttle()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxFailuresPerAddress = 2);
        await AuthorizeAsync(policy, OtherUuid, "000000", IPAddress.Parse("2001:db8:1:2::1")).WaitAsync(Timeout);
        await AuthorizeAsync(policy, OtherUuid, "000000", IPAddress.Parse("2001:db8:1:2::2")).WaitAsync(Timeout);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code(), IPAddress.Parse("2001:db8:1:2:ffff::3")).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task Unknown_uuid_failures_count_against_that_uuid()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        for (int i = 0; i < 5; i++)
        {
            await AuthorizeAsync(policy, OtherUuid, "000000", IPAddress.Parse("198.51.100." + i)).WaitAsync(Timeout);
        }

        RegistrationDecision decision = await AuthorizeAsync(policy, OtherUuid, "000000", OtherAddress).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task Tracked_keys_stay_within_the_cap()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxTrackedKeys = 100);
        for (int i = 0; i < 300; i++)
        {
            var address = new IPAddress([10, 0, (byte)(i / 256), (byte)(i % 256)]);
            await AuthorizeAsync(policy, Guid.NewGuid().ToString(), "bad", address).WaitAsync(Timeout);
        }

        Assert.That(policy.TrackedKeyCount, Is.LessThanOrEqualTo(200));
    }

    // Issue 11: codes of the wrong length for a known UUID were refused before any HMAC, an unknown UUID's decoy
    // computed them all, so 7 or 8 digits told which UUIDs exist (313 against 350 microseconds). Counting the
    // HMACs is exact where timing is noisy.
    [TestCase("known, 6 digits", 6)]
    [TestCase("known, 6 digits", 7)]
    [TestCase("known, 6 digits", 8)]
    [TestCase("known, 8 digits", 6)]
    [TestCase("known, 8 digits", 7)]
    [TestCase("known, 8 digits", 8)]
    [TestCase("unknown", 6)]
    [TestCase("unknown", 7)]
    [TestCase("unknown", 8)]
    public async Task Every_refused_code_costs_the_same_hmac_computations_whether_the_uuid_exists_and_whatever_its_length(string uuidKind, int digits)
    {
        const string EightDigitUuid = "00000000-0000-0000-0000-0000000000b8";
        await _store.AddAsync(new SecretEntry(EightDigitUuid, Secret, 30, 8, _time.GetUtcNow())).WaitAsync(Timeout);
        string uuid = uuidKind switch
        {
            "known, 6 digits" => Uuid,
            "known, 8 digits" => EightDigitUuid,
            _ => OtherUuid,
        };
        string right = new Totp(Secret, 30, OtpHashMode.Sha1, digits).ComputeTotp(_time.GetUtcNow().UtcDateTime);
        string wrong = right[..^1] + (char)('0' + ((right[^1] - '0' + 1) % 10));
        TotpRegistrationPolicy policy = CreatePolicy();
        int candidateSteps = (2 * new TotpSecurityOptions().AllowedSkewSteps) + 1;

        RegistrationDecision decision = await AuthorizeAsync(policy, uuid, wrong).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
        Assert.That(policy.CodesComputed, Is.EqualTo(candidateSteps));
    }

    [Test]
    public async Task An_accepted_code_costs_the_same_hmac_computations_as_a_refused_one()
    {
        TotpRegistrationPolicy policy = CreatePolicy();

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
        Assert.That(policy.CodesComputed, Is.EqualTo((2 * new TotpSecurityOptions().AllowedSkewSteps) + 1));
    }

    private TotpRegistrationPolicy CreatePolicy(Action<TotpSecurityOptions>? configure = null) => CreatePolicy(_store, configure);

    private TotpRegistrationPolicy CreatePolicy(SecretStore store, Action<TotpSecurityOptions>? configure = null)
    {
        var options = new TotpSecurityOptions();
        configure?.Invoke(options);
        return new TotpRegistrationPolicy(store, Options.Create(options), _time);
    }

    private static async Task<RegistrationDecision> AuthorizeAsync(TotpRegistrationPolicy policy, string uuid, string response, IPAddress? address = null) =>
        await policy.AuthorizeAsync(new RegistrationRequest(uuid, response, address ?? Address)).ConfigureAwait(false);

    private static async Task FailAsync(TotpRegistrationPolicy policy, string uuid, int times, IPAddress address)
    {
        for (int i = 0; i < times; i++)
        {
            RegistrationDecision decision = await AuthorizeAsync(policy, uuid, "000000", address).WaitAsync(Timeout);
            Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Rejected));
        }
    }

    private string Code(TimeSpan offset = default) =>
        new Totp(Secret, 30, OtpHashMode.Sha1, 6).ComputeTotp((_time.GetUtcNow() + offset).UtcDateTime);
}
