using System.Net;
using OtpNet;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Security.Tests.Policy;

/// <summary>
/// Knowing a UUID is not enough to lock its hidden server out (an address that registered before keeps a budget of
/// its own), and concurrent attempts cannot get more codes checked than the limits allow.
/// </summary>
public sealed partial class TotpRegistrationPolicyTests
{
    private const int Concurrent = 300;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);
    private static readonly IPAddress Attacker = IPAddress.Parse("198.51.100.7");
    private static readonly IPAddress HiddenServer = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress Stranger = IPAddress.Parse("203.0.113.3");

    [TestCase("192.0.2.10", "192.0.2.10", RegistrationOutcome.Accepted)]
    [TestCase("192.0.2.10", "203.0.113.3", RegistrationOutcome.Throttled)]
    [TestCase("192.0.2.10", "::ffff:192.0.2.10", RegistrationOutcome.Accepted)]
    [TestCase("2001:db8:1:2::1", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", RegistrationOutcome.Accepted)]
    [TestCase("2001:db8:1:2::1", "2001:db8:1:3::1", RegistrationOutcome.Throttled)]
    public async Task After_a_guesser_burns_the_uuid_budget_from_another_address(string registered, string later, RegistrationOutcome expected)
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await RegisterAsync(policy, IPAddress.Parse(registered));
        await BurnUuidBudgetAsync(policy, Attacker);

        Assert.That(await NextStepAsync(policy, IPAddress.Parse(later)), Is.EqualTo(expected));
    }

    [Test]
    public async Task An_address_that_registered_before_is_limited_by_its_own_budget_and_its_guesses_count_for_the_uuid()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await RegisterAsync(policy, HiddenServer);
        await BurnUuidBudgetAsync(policy, HiddenServer);

        Assert.That(await NextStepAsync(policy, HiddenServer), Is.EqualTo(RegistrationOutcome.Throttled));
        Assert.That(await OutcomeAsync(policy, Code(), Stranger), Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task A_later_success_does_not_give_a_guesser_a_new_budget()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        await RegisterAsync(policy, HiddenServer);
        await BurnUuidBudgetAsync(policy, Attacker);
        Assert.That(await NextStepAsync(policy, HiddenServer), Is.EqualTo(RegistrationOutcome.Accepted));

        Assert.That(await OutcomeAsync(policy, "000000", Attacker), Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task An_address_is_known_only_for_the_lifetime_after_its_last_success()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.KnownAddressLifetime = TimeSpan.FromHours(1));
        await RegisterAsync(policy, HiddenServer);
        _time.Advance(TimeSpan.FromHours(1));
        await BurnUuidBudgetAsync(policy, Attacker);

        Assert.That(await NextStepAsync(policy, HiddenServer), Is.EqualTo(RegistrationOutcome.Throttled));
    }

    [Test]
    public async Task Ipv6_addresses_in_different_64s_have_separate_address_budgets()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxFailuresPerAddress = 2);
        for (int i = 0; i < 2; i++)
        {
            await OutcomeAsync(policy, Guid.NewGuid().ToString(), "000000", IPAddress.Parse("2001:db8:1:2::" + (i + 1)));
        }

        Assert.That(await OutcomeAsync(policy, Code(), IPAddress.Parse("2001:db8:1:2::9")), Is.EqualTo(RegistrationOutcome.Throttled));
        Assert.That(await OutcomeAsync(policy, Code(), IPAddress.Parse("2001:db8:1:3::1")), Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Failed_attempts_from_many_addresses_remember_nothing()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        for (int i = 0; i < 500; i++)
        {
            await OutcomeAsync(policy, "000000", new IPAddress([10, 1, (byte)(i / 256), (byte)(i % 256)]));
        }

        Assert.That(policy.KnownAddressCount, Is.Zero);
    }

    [Test]
    public async Task Known_addresses_per_uuid_stay_within_the_cap_and_the_latest_are_kept()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxKnownAddressesPerUuid = 3);
        for (int i = 0; i < 50; i++)
        {
            Assert.That(await NextStepAsync(policy, new IPAddress([10, 2, 0, (byte)i])), Is.EqualTo(RegistrationOutcome.Accepted), $"address {i}");
        }

        await BurnUuidBudgetAsync(policy, Attacker);

        Assert.That(policy.KnownAddressCount, Is.EqualTo(3));
        Assert.That(await NextStepAsync(policy, new IPAddress([10, 2, 0, 46])), Is.EqualTo(RegistrationOutcome.Throttled));
        Assert.That(await OutcomeAsync(policy, Code(), new IPAddress([10, 2, 0, 49])), Is.EqualTo(RegistrationOutcome.Accepted));
    }

    [Test]
    public async Task Known_addresses_in_all_stay_within_the_cap()
    {
        const int uuids = 150;
        var entries = Enumerable.Range(0, uuids)
            .Select(_ => new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), 30, 6, _time.GetUtcNow()))
            .ToList();
        foreach (SecretEntry entry in entries)
        {
            await _store.AddAsync(entry).WaitAsync(Timeout);
        }

        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxKnownAddresses = 100);
        for (int i = 0; i < uuids; i++)
        {
            string code = new Totp(entries[i].Secret, 30, OtpHashMode.Sha1, 6).ComputeTotp(_time.GetUtcNow().UtcDateTime);
            RegistrationDecision decision = await policy
                .AuthorizeAsync(new RegistrationRequest(entries[i].Uuid, code, new IPAddress([10, 3, (byte)(i / 256), (byte)(i % 256)])))
                .AsTask().WaitAsync(Timeout);
            Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted), $"uuid {i}");
        }

        Assert.That(policy.KnownAddressCount, Is.EqualTo(100));
    }

    [Test]
    public async Task Concurrent_wrong_codes_for_one_uuid_on_a_cold_store_check_exactly_the_uuid_limit()
    {
        var store = new GatedSecretStore(new SqliteSecretStore(_directory.Combine("rendezvous.db")));
        TotpRegistrationPolicy policy = CreatePolicy(store);

        // All attempts are in flight at once: each checked one waits in its lookup until the gate opens.
        Task<RegistrationOutcome>[] attempts = Enumerable.Range(0, Concurrent)
            .Select(i => OutcomeAsync(policy, "000000", new IPAddress([10, 4, (byte)(i / 256), (byte)(i % 256)])))
            .ToArray();
        store.Open();
        RegistrationOutcome[] outcomes = await Task.WhenAll(attempts).WaitAsync(Timeout);

        int limit = new TotpSecurityOptions().MaxFailuresPerUuid;
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Count(o => o == RegistrationOutcome.Rejected), Is.EqualTo(limit));
            Assert.That(outcomes.Count(o => o == RegistrationOutcome.Throttled), Is.EqualTo(Concurrent - limit));
            Assert.That(store.Lookups, Is.EqualTo(limit));
        });
    }

    [Test]
    public async Task Concurrent_wrong_codes_from_one_address_on_a_cold_store_check_exactly_the_address_limit()
    {
        var store = new GatedSecretStore(new SqliteSecretStore(_directory.Combine("rendezvous.db")));
        TotpRegistrationPolicy policy = CreatePolicy(store);

        Task<RegistrationOutcome>[] attempts = Enumerable.Range(0, Concurrent)
            .Select(_ => OutcomeAsync(policy, Guid.NewGuid().ToString(), "000000", Attacker))
            .ToArray();
        store.Open();
        RegistrationOutcome[] outcomes = await Task.WhenAll(attempts).WaitAsync(Timeout);

        int limit = new TotpSecurityOptions().MaxFailuresPerAddress;
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Count(o => o == RegistrationOutcome.Rejected), Is.EqualTo(limit));
            Assert.That(outcomes.Count(o => o == RegistrationOutcome.Throttled), Is.EqualTo(Concurrent - limit));
            Assert.That(store.Lookups, Is.EqualTo(limit));
        });
    }

    [Test]
    public async Task Concurrent_right_and_wrong_codes_give_back_the_slots_of_the_right_one()
    {
        TotpRegistrationPolicy policy = CreatePolicy(o => o.MaxFailuresPerUuid = 2);
        string code = Code();

        // The right code and its replays give their slots back, so two wrong codes still fit in the budget.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => OutcomeAsync(policy, code, HiddenServer)))).WaitAsync(Timeout);

        Assert.That(await OutcomeAsync(policy, "000000", Stranger), Is.EqualTo(RegistrationOutcome.Rejected));
        Assert.That(await OutcomeAsync(policy, "000000", Stranger), Is.EqualTo(RegistrationOutcome.Rejected));
        Assert.That(await OutcomeAsync(policy, "000000", Stranger), Is.EqualTo(RegistrationOutcome.Throttled));
    }

    private async Task RegisterAsync(TotpRegistrationPolicy policy, IPAddress address) =>
        Assert.That(await OutcomeAsync(policy, Code(), address), Is.EqualTo(RegistrationOutcome.Accepted));

    /// <summary>Moves to the next TOTP step (a fresh code) and tries its code from <paramref name="address"/>.</summary>
    private async Task<RegistrationOutcome> NextStepAsync(TotpRegistrationPolicy policy, IPAddress address)
    {
        _time.Advance(Step);
        return await OutcomeAsync(policy, Code(), address);
    }

    private static async Task BurnUuidBudgetAsync(TotpRegistrationPolicy policy, IPAddress address)
    {
        await FailAsync(policy, Uuid, new TotpSecurityOptions().MaxFailuresPerUuid, address);
        Assert.That(await OutcomeAsync(policy, "000000", address), Is.EqualTo(RegistrationOutcome.Throttled));
    }

    private static Task<RegistrationOutcome> OutcomeAsync(TotpRegistrationPolicy policy, string response, IPAddress address) =>
        OutcomeAsync(policy, Uuid, response, address);

    private static async Task<RegistrationOutcome> OutcomeAsync(TotpRegistrationPolicy policy, string uuid, string response, IPAddress address) =>
        (await AuthorizeAsync(policy, uuid, response, address).WaitAsync(Timeout)).Outcome;

    /// <summary>
    /// The real store behind a gate: a lookup (each checked attempt makes one) is counted, then waits until
    /// <see cref="Open"/>, as a slow first lookup of a cold database does, so every attempt is in flight at once.
    /// </summary>
    private sealed class GatedSecretStore(SecretStore inner) : SecretStore
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _lookups;

        public int Lookups => Volatile.Read(ref _lookups);

        public void Open() => _gate.TrySetResult();

        public override Task AddAsync(SecretEntry entry, CancellationToken cancellationToken = default) => inner.AddAsync(entry, cancellationToken);

        public override async Task<SecretEntry?> TryGetAsync(string uuid, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _lookups);
            await _gate.Task.WaitAsync(Timeout, cancellationToken).ConfigureAwait(false);
            return await inner.TryGetAsync(uuid, cancellationToken).ConfigureAwait(false);
        }

        public override Task<IReadOnlyList<SecretEntry>> ListAsync(CancellationToken cancellationToken = default) => inner.ListAsync(cancellationToken);

        public override Task<bool> RemoveAsync(string uuid, CancellationToken cancellationToken = default) => inner.RemoveAsync(uuid, cancellationToken);

        public override Task<bool> ReplaceSecretAsync(string uuid, byte[] secret, CancellationToken cancellationToken = default) =>
            inner.ReplaceSecretAsync(uuid, secret, cancellationToken);

        public override Task<bool> TryAdvanceLastStepAsync(string uuid, long step, CancellationToken cancellationToken = default) =>
            inner.TryAdvanceLastStepAsync(uuid, step, cancellationToken);
    }
}
