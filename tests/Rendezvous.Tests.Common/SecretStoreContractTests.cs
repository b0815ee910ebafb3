using NUnit.Framework;
using Rendezvous.Security;

namespace Rendezvous.Tests.Common;

/// <summary>
/// What every <see cref="SecretStore"/> must do, run against each store (SQLite in Security.Tests, Redis in Redis.Tests).
/// <see cref="CreateStore"/> gives a new instance over the same storage each time, as another process or node would see it.
/// </summary>
public abstract class SecretStoreContractTests
{
    protected const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    protected static readonly DateTimeOffset Created = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private readonly List<SecretStore> _stores = [];

    [TearDown]
    public async Task DisposeStoresAsync()
    {
        foreach (SecretStore store in _stores)
        {
            if (store is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync();
            }
        }

        _stores.Clear();
    }

    [Test]
    public async Task Added_entry_can_be_read_back()
    {
        SecretStore store = Store();
        SecretEntry entry = Entry(Uuid, step: 60, digits: 8);

        await store.AddAsync(entry).WaitAsync(Timeout);
        SecretEntry? read = await store.TryGetAsync(entry.Uuid).WaitAsync(Timeout);

        Assert.That(read, Is.Not.Null);
        Assert.That(read!.Uuid, Is.EqualTo(entry.Uuid));
        Assert.That(read.Secret, Is.EqualTo(entry.Secret));
        Assert.That(read.Step, Is.EqualTo(60));
        Assert.That(read.Digits, Is.EqualTo(8));
        Assert.That(read.CreatedAt, Is.EqualTo(Created));
    }

    [Test]
    public async Task Adding_a_duplicate_uuid_throws_naming_the_uuid()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);

        DuplicateSecretException? thrown = Assert.ThrowsAsync<DuplicateSecretException>(
            () => store.AddAsync(Entry(Uuid.ToUpperInvariant())).WaitAsync(Timeout));

        Assert.That(thrown!.Message, Does.Contain(Uuid));
        Assert.That(thrown.Uuid, Is.EqualTo(Uuid));
    }

    [Test]
    public async Task A_duplicate_add_changes_nothing_of_the_first_entry()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);
        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout), Is.True);

        Assert.ThrowsAsync<DuplicateSecretException>(() => store.AddAsync(Entry(Uuid, step: 60, digits: 8) with { Secret = new byte[32] }).WaitAsync(Timeout));

        SecretEntry? read = await store.TryGetAsync(Uuid).WaitAsync(Timeout);
        Assert.That((read!.Step, read.Digits, read.Secret), Is.EqualTo((30, 6, Entry(Uuid).Secret)));
        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout), Is.False, "the last step is kept");
    }

    [Test]
    public async Task Uuids_are_stored_and_looked_up_in_lower_case_canonical_form()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry(Uuid.ToUpperInvariant())).WaitAsync(Timeout);

        SecretEntry? read = await store.TryGetAsync("{5f0c3f1e-8a3b-4c55-9d6e-0123456789AB}").WaitAsync(Timeout);

        Assert.That(read?.Uuid, Is.EqualTo(Uuid));
    }

    [Test]
    public async Task Unknown_uuid_reads_as_null()
    {
        SecretStore store = Store();

        Assert.That(await store.TryGetAsync(Uuid).WaitAsync(Timeout), Is.Null);
        Assert.That(await store.TryGetAsync("not-a-uuid").WaitAsync(Timeout), Is.Null);
    }

    [Test]
    public async Task Remove_deletes_the_entry()
    {
        SecretStore store = Store();
        SecretEntry entry = Entry(Uuid);
        await store.AddAsync(entry).WaitAsync(Timeout);

        bool removed = await store.RemoveAsync(entry.Uuid.ToUpperInvariant()).WaitAsync(Timeout);

        Assert.That(removed, Is.True);
        Assert.That(await store.TryGetAsync(entry.Uuid).WaitAsync(Timeout), Is.Null);
        Assert.That(await store.ListAsync().WaitAsync(Timeout), Is.Empty);
    }

    [Test]
    public async Task A_removed_uuid_can_be_added_again_with_a_fresh_last_step()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);
        await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout);
        await store.RemoveAsync(Uuid).WaitAsync(Timeout);

        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);

        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 50).WaitAsync(Timeout), Is.True);
    }

    [Test]
    public async Task Replacing_the_secret_keeps_step_digits_and_creation_time()
    {
        SecretStore store = Store();
        SecretEntry entry = Entry(Uuid);
        await store.AddAsync(entry).WaitAsync(Timeout);
        byte[] next = Enumerable.Range(100, 20).Select(i => (byte)i).ToArray();

        bool replaced = await store.ReplaceSecretAsync(entry.Uuid.ToUpperInvariant(), next).WaitAsync(Timeout);

        SecretEntry? read = await store.TryGetAsync(entry.Uuid).WaitAsync(Timeout);
        Assert.That(replaced, Is.True);
        Assert.That(read!.Secret, Is.EqualTo(next));
        Assert.That((read.Step, read.Digits, read.CreatedAt), Is.EqualTo((entry.Step, entry.Digits, entry.CreatedAt)));
    }

    [Test]
    public async Task Replacing_the_secret_keeps_the_last_accepted_step()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);
        await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout);

        await store.ReplaceSecretAsync(Uuid, new byte[20]).WaitAsync(Timeout);

        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout), Is.False);
        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 101).WaitAsync(Timeout), Is.True);
    }

    [Test]
    public async Task Replacing_the_secret_of_an_absent_uuid_returns_false_and_adds_nothing()
    {
        SecretStore store = Store();

        bool replaced = await store.ReplaceSecretAsync(Uuid, new byte[20]).WaitAsync(Timeout);

        Assert.That(replaced, Is.False);
        Assert.That(await store.TryGetAsync(Uuid).WaitAsync(Timeout), Is.Null);
        Assert.That(await store.ReplaceSecretAsync("not-a-uuid", new byte[20]).WaitAsync(Timeout), Is.False);
    }

    [Test]
    public void Replacing_with_a_short_secret_is_refused()
    {
        SecretStore store = Store();

        Assert.ThrowsAsync<ArgumentException>(() => store.ReplaceSecretAsync(Uuid, new byte[4]).WaitAsync(Timeout));
    }

    [Test]
    public async Task Removing_an_absent_uuid_returns_false()
    {
        SecretStore store = Store();

        Assert.That(await store.RemoveAsync(Uuid).WaitAsync(Timeout), Is.False);
        Assert.That(await store.RemoveAsync("not-a-uuid").WaitAsync(Timeout), Is.False);
    }

    [Test]
    public async Task List_is_ordered_by_creation_time_then_uuid()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry("00000000-0000-0000-0000-000000000002", created: Created.AddMinutes(1))).WaitAsync(Timeout);
        await store.AddAsync(Entry("00000000-0000-0000-0000-000000000004", created: Created.AddMinutes(2))).WaitAsync(Timeout);
        await store.AddAsync(Entry("00000000-0000-0000-0000-000000000003", created: Created.AddMinutes(2))).WaitAsync(Timeout);
        await store.AddAsync(Entry("00000000-0000-0000-0000-000000000001", created: Created)).WaitAsync(Timeout);

        IReadOnlyList<SecretEntry> entries = await store.ListAsync().WaitAsync(Timeout);

        Assert.That(entries.Select(e => e.Uuid), Is.EqualTo(new[]
        {
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
            "00000000-0000-0000-0000-000000000003",
            "00000000-0000-0000-0000-000000000004",
        }));
        Assert.That(entries[0].Secret, Is.EqualTo(Entry(Uuid).Secret));
    }

    [Test]
    public async Task Entry_added_through_another_instance_is_seen_at_once()
    {
        SecretStore server = Store();
        await server.ListAsync().WaitAsync(Timeout);
        SecretStore cli = Store();

        await cli.AddAsync(Entry(Uuid)).WaitAsync(Timeout);

        Assert.That(await server.TryGetAsync(Uuid).WaitAsync(Timeout), Is.Not.Null);
    }

    [Test]
    public async Task Last_step_only_moves_forward()
    {
        SecretStore store = Store();
        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);

        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout), Is.True);
        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout), Is.False);
        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 99).WaitAsync(Timeout), Is.False);
        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 101).WaitAsync(Timeout), Is.True);
    }

    [Test]
    public async Task Last_step_is_seen_by_another_instance()
    {
        SecretStore first = Store();
        await first.AddAsync(Entry(Uuid)).WaitAsync(Timeout);
        await first.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout);

        SecretStore reopened = Store();

        Assert.That(await reopened.TryAdvanceLastStepAsync(Uuid, 100).WaitAsync(Timeout), Is.False);
    }

    [Test]
    public async Task Last_step_of_an_unknown_uuid_is_not_recorded()
    {
        SecretStore store = Store();

        Assert.That(await store.TryAdvanceLastStepAsync(Uuid, 1).WaitAsync(Timeout), Is.False);
        Assert.That(await store.TryGetAsync(Uuid).WaitAsync(Timeout), Is.Null, "no entry is made by recording a step");
        Assert.That(await store.TryAdvanceLastStepAsync("not-a-uuid", 1).WaitAsync(Timeout), Is.False);
    }

    [Test]
    public async Task Concurrent_advances_to_the_same_step_through_separate_stores_succeed_once()
    {
        await Store().AddAsync(Entry(Uuid)).WaitAsync(Timeout);
        SecretStore[] stores = [.. Enumerable.Range(0, 8).Select(_ => Store())];

        bool[] results = await Task.WhenAll(stores.Select(store => Task.Run(() => store.TryAdvanceLastStepAsync(Uuid, 42)))).WaitAsync(Timeout);

        Assert.That(results.Count(r => r), Is.EqualTo(1));
    }

    [TestCase(0, 6)]
    [TestCase(301, 6)]
    [TestCase(30, 5)]
    [TestCase(30, 9)]
    public void Entry_out_of_range_is_refused(int step, int digits)
    {
        SecretStore store = Store();

        Assert.ThrowsAsync<ArgumentException>(() => store.AddAsync(Entry(Uuid, step, digits)).WaitAsync(Timeout));
    }

    [Test]
    public void Entry_with_a_short_secret_or_a_bad_uuid_is_refused()
    {
        SecretStore store = Store();

        Assert.ThrowsAsync<ArgumentException>(() => store.AddAsync(Entry(Uuid) with { Secret = new byte[9] }).WaitAsync(Timeout));
        Assert.ThrowsAsync<ArgumentException>(() => store.AddAsync(Entry("not-a-uuid")).WaitAsync(Timeout));
    }

    [Test]
    public async Task A_working_store_is_healthy()
    {
        Assert.That(await Store().CheckHealthAsync().WaitAsync(Timeout), Is.Null);
    }

    protected static SecretEntry Entry(string uuid, int step = 30, int digits = 6, DateTimeOffset? created = null) =>
        new(uuid, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], step, digits, created ?? Created);

    /// <summary>A new instance over the test's storage, disposed after the test when it is disposable.</summary>
    protected SecretStore Store()
    {
        SecretStore store = CreateStore();
        _stores.Add(store);
        return store;
    }

    /// <summary>Creates a new instance over the test's storage.</summary>
    protected abstract SecretStore CreateStore();
}
