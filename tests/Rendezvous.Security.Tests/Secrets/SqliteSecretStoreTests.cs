using System.Runtime.Versioning;
using Microsoft.Data.Sqlite;
using Rendezvous.Tests.Common;

namespace Rendezvous.Security.Tests.Secrets;

/// <summary>The store contract (<see cref="SecretStoreContractTests"/>) on a SQLite file, and what is SQLite's own.</summary>
public sealed class SqliteSecretStoreTests : SecretStoreContractTests
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public async Task Database_file_is_created_with_mode_0600()
    {
        var store = (SqliteSecretStore)Store();
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
    public async Task Database_uses_write_ahead_logging()
    {
        var store = (SqliteSecretStore)Store();
        await store.ListAsync().WaitAsync(Timeout);

        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = store.DatabasePath, Pooling = false }.ToString());
        await connection.OpenAsync().WaitAsync(Timeout);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";

        Assert.That(await command.ExecuteScalarAsync().WaitAsync(Timeout), Is.EqualTo("wal"));
    }

    protected override SecretStore CreateStore() => new SqliteSecretStore(_directory.Combine("rendezvous.db"));
}
