using System.Runtime.Versioning;
using Microsoft.Data.Sqlite;
using Rendezvous.Tests.Common;

namespace Rendezvous.Security.Tests.Secrets;

public sealed class SqliteSecretStoreTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset Created = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task Added_entry_can_be_read_back()
    {
        SqliteSecretStore store = CreateStore();
        SecretEntry entry = Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", step: 60, digits: 8);

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
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public async Task Database_file_is_created_with_mode_0600()
    {
        SqliteSecretStore store = CreateStore();
        await store.ListAsync().WaitAsync(Timeout);

        Assert.That(File.GetUnixFileMode(store.DatabasePath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public async Task Missing_data_directory_is_created_with_mode_0700()
    {
        string dataDirectory = _directory.Combine("data");
        SqliteSecretStore store = SqliteSecretStore.ForDataDirectory(dataDirectory);
        await store.ListAsync().WaitAsync(Timeout);

        Assert.That(File.GetUnixFileMode(dataDirectory), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        Assert.That(store.DatabasePath, Is.EqualTo(Path.Combine(dataDirectory, "rendezvous.db")));
    }

    [Test]
    public async Task Adding_a_duplicate_uuid_throws_naming_the_uuid()
    {
        SqliteSecretStore store = CreateStore();
        const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
        await store.AddAsync(Entry(Uuid)).WaitAsync(Timeout);

        DuplicateSecretException? thrown = Assert.ThrowsAsync<DuplicateSecretException>(
            () => store.AddAsync(Entry(Uuid.ToUpperInvariant())).WaitAsync(Timeout));

        Assert.That(thrown!.Message, Does.Contain(Uuid));
        Assert.That(thrown.Uuid, Is.EqualTo(Uuid));
    }

    [Test]
    public async Task Uuids_are_stored_and_looked_up_in_lower_case_canonical_form()
    {
        SqliteSecretStore store = CreateStore();
        await store.AddAsync(Entry("5F0C3F1E-8A3B-4C55-9D6E-0123456789AB")).WaitAsync(Timeout);

        SecretEntry? read = await store.TryGetAsync("{5f0c3f1e-8a3b-4c55-9d6e-0123456789AB}").WaitAsync(Timeout);

        Assert.That(read?.Uuid, Is.EqualTo("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab"));
    }

    [Test]
    public async Task Unknown_uuid_reads_as_null()
    {
        SqliteSecretStore store = CreateStore();

        Assert.That(await store.TryGetAsync("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab").WaitAsync(Timeout), Is.Null);
        Assert.That(await store.TryGetAsync("not-a-uuid").WaitAsync(Timeout), Is.Null);
    }

    [Test]
    public async Task Remove_deletes_the_entry()
    {
        SqliteSecretStore store = CreateStore();
        SecretEntry entry = Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab");
        await store.AddAsync(entry).WaitAsync(Timeout);

        bool removed = await store.RemoveAsync(entry.Uuid).WaitAsync(Timeout);

        Assert.That(removed, Is.True);
        Assert.That(await store.TryGetAsync(entry.Uuid).WaitAsync(Timeout), Is.Null);
    }

    [Test]
    public async Task Replacing_the_secret_keeps_step_digits_and_creation_time()
    {
        SqliteSecretStore store = CreateStore();
        SecretEntry entry = Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab");
        await store.AddAsync(entry).WaitAsync(Timeout);
        byte[] next = Enumerable.Range(100, 20).Select(i => (byte)i).ToArray();

        bool replaced = await store.ReplaceSecretAsync(entry.Uuid.ToUpperInvariant(), next).WaitAsync(Timeout);

        SecretEntry? read = await store.TryGetAsync(entry.Uuid).WaitAsync(Timeout);
        Assert.That(replaced, Is.True);
        Assert.That(read!.Secret, Is.EqualTo(next));
        Assert.That((read.Step, read.Digits, read.CreatedAt), Is.EqualTo((entry.Step, entry.Digits, entry.CreatedAt)));
    }

    [Test]
    public async Task Replacing_the_secret_of_an_absent_uuid_returns_false()
    {
        SqliteSecretStore store = CreateStore();

        bool replaced = await store.ReplaceSecretAsync("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", new byte[20]).WaitAsync(Timeout);

        Assert.That(replaced, Is.False);
    }

    [Test]
    public void Replacing_with_a_short_secret_is_refused()
    {
        SqliteSecretStore store = CreateStore();

        Assert.ThrowsAsync<ArgumentException>(() => store.ReplaceSecretAsync("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", new byte[4]).WaitAsync(Timeout));
    }

    [Test]
    public async Task Removing_an_absent_uuid_returns_false()
    {
        SqliteSecretStore store = CreateStore();

        Assert.That(await store.RemoveAsync("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab").WaitAsync(Timeout), Is.False);
    }

    [Test]
    public async Task List_is_ordered_by_creation_time()
    {
        SqliteSecretStore store = CreateStore();
        await store.AddAsync(Entry("00000000-0000-0000-0000-000000000002", created: Created.AddMinutes(1))).WaitAsync(Timeout);
        await store.AddAsync(Entry("00000000-0000-0000-0000-000000000003", created: Created.AddMinutes(2))).WaitAsync(Timeout);
        await store.AddAsync(Entry("00000000-0000-0000-0000-000000000001", created: Created)).WaitAsync(Timeout);

        IReadOnlyList<SecretEntry> entries = await store.ListAsync().WaitAsync(Timeout);

        Assert.That(entries.Select(e => e.Uuid), Is.EqualTo(new[]
        {
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
            "00000000-0000-0000-0000-000000000003",
        }));
    }

    [Test]
    public async Task Entry_added_through_another_instance_is_seen_at_once()
    {
        SqliteSecretStore server = CreateStore();
        await server.ListAsync().WaitAsync(Timeout);
        SqliteSecretStore cli = CreateStore();

        await cli.AddAsync(Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab")).WaitAsync(Timeout);

        Assert.That(await server.TryGetAsync("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab").WaitAsync(Timeout), Is.Not.Null);
    }

    [Test]
    public async Task Last_step_only_moves_forward()
    {
        SqliteSecretStore store = CreateStore();
        SecretEntry entry = Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab");
        await store.AddAsync(entry).WaitAsync(Timeout);

        Assert.That(await store.TryAdvanceLastStepAsync(entry.Uuid, 100).WaitAsync(Timeout), Is.True);
        Assert.That(await store.TryAdvanceLastStepAsync(entry.Uuid, 100).WaitAsync(Timeout), Is.False);
        Assert.That(await store.TryAdvanceLastStepAsync(entry.Uuid, 99).WaitAsync(Timeout), Is.False);
        Assert.That(await store.TryAdvanceLastStepAsync(entry.Uuid, 101).WaitAsync(Timeout), Is.True);
    }

    [Test]
    public async Task Last_step_survives_reopening_the_database()
    {
        SecretEntry entry = Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab");
        SqliteSecretStore first = CreateStore();
        await first.AddAsync(entry).WaitAsync(Timeout);
        await first.TryAdvanceLastStepAsync(entry.Uuid, 100).WaitAsync(Timeout);

        SqliteSecretStore reopened = CreateStore();

        Assert.That(await reopened.TryAdvanceLastStepAsync(entry.Uuid, 100).WaitAsync(Timeout), Is.False);
    }

    [Test]
    public async Task Last_step_of_an_unknown_uuid_is_not_recorded()
    {
        SqliteSecretStore store = CreateStore();

        Assert.That(await store.TryAdvanceLastStepAsync("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", 1).WaitAsync(Timeout), Is.False);
    }

    [Test]
    public async Task Database_uses_write_ahead_logging()
    {
        SqliteSecretStore store = CreateStore();
        await store.ListAsync().WaitAsync(Timeout);

        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = store.DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync().WaitAsync(Timeout);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";

        Assert.That(await command.ExecuteScalarAsync().WaitAsync(Timeout), Is.EqualTo("wal"));
    }

    [Test]
    public async Task Concurrent_advances_to_the_same_step_through_separate_stores_succeed_once()
    {
        SecretEntry entry = Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab");
        await CreateStore().AddAsync(entry).WaitAsync(Timeout);

        bool[] results = await Task.WhenAll(Enumerable.Range(0, 8)
            .Select(_ => Task.Run(() => CreateStore().TryAdvanceLastStepAsync(entry.Uuid, 42)))).WaitAsync(Timeout);

        Assert.That(results.Count(r => r), Is.EqualTo(1));
    }

    [TestCase(0, 6)]
    [TestCase(301, 6)]
    [TestCase(30, 5)]
    [TestCase(30, 9)]
    public void Entry_out_of_range_is_refused(int step, int digits)
    {
        SqliteSecretStore store = CreateStore();

        Assert.ThrowsAsync<ArgumentException>(() => store.AddAsync(Entry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", step, digits)).WaitAsync(Timeout));
    }

    private SqliteSecretStore CreateStore() => new(_directory.Combine("rendezvous.db"));

    private static SecretEntry Entry(string uuid, int step = 30, int digits = 6, DateTimeOffset? created = null) =>
        new(uuid, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], step, digits, created ?? Created);
}
