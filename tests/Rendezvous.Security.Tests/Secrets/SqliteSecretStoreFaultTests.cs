using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Rendezvous.Tests.Common;

namespace Rendezvous.Security.Tests.Secrets;

/// <summary>
/// The database file removed or damaged while a store uses it: every operation fails (nothing is created in its
/// place), <see cref="SecretStore.CheckHealthAsync"/> says why, one line is logged per change of state, and the
/// store works again once the file is back.
/// </summary>
public sealed class SqliteSecretStoreFaultTests
{
    private const string Uuid = "5f0c3f1e-8a3b-4c55-9d6e-0123456789ab";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly string[] Suffixes = [string.Empty, "-wal", "-shm"];

    private TemporaryDirectory _directory = null!;
    private LogCapture _logs = null!;
    private SqliteSecretStore _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _directory = new TemporaryDirectory();
        _logs = new LogCapture();
        _store = new SqliteSecretStore(_directory.Combine("rendezvous.db"), _logs.CreateLogger<SqliteSecretStore>());
        await _store.AddAsync(new SecretEntry(Uuid, SecretFormat.CreateRandomSecret(), 30, 6, DateTimeOffset.UtcNow)).WaitAsync(Timeout);
        Assert.That(await _store.CheckHealthAsync().WaitAsync(Timeout), Is.Null);
    }

    [TearDown]
    public void TearDown()
    {
        _logs.Dispose();
        _directory.Dispose();
    }

    [Test]
    public async Task Removed_database_fails_every_operation_is_not_recreated_and_is_logged_once()
    {
        foreach (string suffix in Suffixes)
        {
            File.Delete(_store.DatabasePath + suffix);
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.ThrowsAsync<FileNotFoundException>(() => _store.TryGetAsync(Uuid).WaitAsync(Timeout));
            Assert.ThrowsAsync<FileNotFoundException>(() => _store.TryAdvanceLastStepAsync(Uuid, 100 + i).WaitAsync(Timeout));
        }

        string? failure = await _store.CheckHealthAsync().WaitAsync(Timeout);
        Assert.Multiple(() =>
        {
            Assert.That(failure, Does.Contain("was removed while in use"));
            Assert.That(File.Exists(_store.DatabasePath), Is.False, "no new empty database in its place");
            Assert.That(FailingLines(), Has.Count.EqualTo(1));
            Assert.That(FailingLines()[0].Message, Does.Contain(_store.DatabasePath).And.Contain("was removed while in use"));
        });
    }

    [Test]
    public async Task Database_moved_away_and_back_works_again_and_each_change_is_logged_once()
    {
        foreach (string suffix in Suffixes)
        {
            File.Move(_store.DatabasePath + suffix, _store.DatabasePath + suffix + ".away");
        }

        Assert.ThrowsAsync<FileNotFoundException>(() => _store.TryGetAsync(Uuid).WaitAsync(Timeout));
        Assert.That(await _store.CheckHealthAsync().WaitAsync(Timeout), Is.Not.Null);

        foreach (string suffix in Suffixes)
        {
            File.Move(_store.DatabasePath + suffix + ".away", _store.DatabasePath + suffix);
        }

        Assert.That(await _store.CheckHealthAsync().WaitAsync(Timeout), Is.Null);
        SecretEntry? entry = await _store.TryGetAsync(Uuid).WaitAsync(Timeout);
        Assert.That(await _store.CheckHealthAsync().WaitAsync(Timeout), Is.Null);
        Assert.Multiple(() =>
        {
            Assert.That(entry, Is.Not.Null, "the entries are those of the file put back");
            Assert.That(FailingLines(), Has.Count.EqualTo(1));
            Assert.That(RecoveredLines(), Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Damaged_header_fails_every_operation_until_repaired_and_each_change_is_logged_once()
    {
        await CheckpointAsync();
        byte[] header = new byte[100];
        await using (var file = new FileStream(_store.DatabasePath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            file.ReadExactly(header);
            file.Position = 0;
            file.Write(RandomBytes(header.Length));
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.ThrowsAsync<SqliteException>(() => _store.TryGetAsync(Uuid).WaitAsync(Timeout));
        }

        string? failure = await _store.CheckHealthAsync().WaitAsync(Timeout);
        Assert.That(failure, Does.Contain("not a database"));

        await using (var file = new FileStream(_store.DatabasePath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            file.Write(header);
        }

        Assert.That(await _store.TryGetAsync(Uuid).WaitAsync(Timeout), Is.Not.Null);
        Assert.That(await _store.CheckHealthAsync().WaitAsync(Timeout), Is.Null);
        Assert.Multiple(() =>
        {
            Assert.That(FailingLines(), Has.Count.EqualTo(1));
            Assert.That(FailingLines()[0].Message, Does.Contain("not a database"));
            Assert.That(RecoveredLines(), Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Database_replaced_by_another_file_while_in_use_is_followed_and_logged_once()
    {
        const string Added = "00000000-0000-0000-0000-0000000000bb";
        await CheckpointAsync();
        string copy = _directory.Combine("replacement.db");
        File.Copy(_store.DatabasePath, copy);
        var other = new SqliteSecretStore(copy);
        await other.AddAsync(new SecretEntry(Added, SecretFormat.CreateRandomSecret(), 30, 6, DateTimeOffset.UtcNow)).WaitAsync(Timeout);
        SqliteConnection.ClearAllPools();
        Assert.That(await _store.TryGetAsync(Added).WaitAsync(Timeout), Is.Null);

        File.Move(copy, _store.DatabasePath, overwrite: true);

        SecretEntry? added = await _store.TryGetAsync(Added).WaitAsync(Timeout);
        SecretEntry? original = await _store.TryGetAsync(Uuid).WaitAsync(Timeout);
        Assert.Multiple(() =>
        {
            Assert.That(added, Is.Not.Null, "the file now at the path is used");
            Assert.That(original, Is.Not.Null);
            Assert.That(_logs.Records.Where(r => r.EventId.Name == "SecretStoreReplaced"), Has.Exactly(1).Items);
            Assert.That(FailingLines(), Is.Empty);
        });
    }

    [Test]
    public async Task Healthy_store_logs_nothing()
    {
        await _store.TryGetAsync(Uuid).WaitAsync(Timeout);
        await _store.CheckHealthAsync().WaitAsync(Timeout);

        Assert.That(_logs.Records, Is.Empty);
    }

    /// <summary>Moves everything from the WAL into the main file, so its header is what SQLite reads.</summary>
    private async Task CheckpointAsync()
    {
        await using var connection = new SqliteConnection($"Data Source={_store.DatabasePath};Pooling=False");
        await connection.OpenAsync().WaitAsync(Timeout);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
        await command.ExecuteNonQueryAsync().WaitAsync(Timeout);
    }

    private static byte[] RandomBytes(int count)
    {
        byte[] bytes = new byte[count];
        new Random(11).NextBytes(bytes);
        return bytes;
    }

    private List<CapturedLog> FailingLines() => [.. _logs.Records.Where(r => r.EventId.Name == "SecretStoreFailing" && r.Level == LogLevel.Error)];

    private List<CapturedLog> RecoveredLines() => [.. _logs.Records.Where(r => r.EventId.Name == "SecretStoreRecovered")];
}
