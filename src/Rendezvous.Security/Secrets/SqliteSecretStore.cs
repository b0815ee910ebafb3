using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Rendezvous.Security;

/// <summary>
/// Keeps secrets in an embedded SQLite database file, created on first use with owner-only permissions
/// (file mode 0600, directory 0700 on Unix). Every operation opens its own (pooled) connection and nothing
/// is cached, so entries added by another process (the <c>rendezvous users</c> command) take effect at once.
/// </summary>
public sealed class SqliteSecretStore : SecretStore
{
    /// <summary>The database file name inside a data directory (<c>rendezvous.db</c>).</summary>
    public const string DefaultFileName = "rendezvous.db";

    private const int BusyTimeoutMilliseconds = 5000;

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _connectionString;
    private readonly SemaphoreSlim _initializeLock = new(1, 1);
    private volatile bool _initialized;

    /// <summary>Creates a store over the database file <paramref name="databasePath"/>; nothing is touched until first use.</summary>
    /// <param name="databasePath">The database file, for example <c>./rendezvous-data/rendezvous.db</c>.</param>
    public SqliteSecretStore(string databasePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        DatabasePath = Path.GetFullPath(databasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
            DefaultTimeout = BusyTimeoutMilliseconds / 1000,
        }.ToString();
    }

    /// <summary>The full path of the database file.</summary>
    public string DatabasePath { get; }

    /// <summary>Creates a store over <c>rendezvous.db</c> in <paramref name="dataDirectory"/>.</summary>
    /// <param name="dataDirectory">The data directory, for example <c>./rendezvous-data</c>.</param>
    /// <returns>The store.</returns>
    public static SqliteSecretStore ForDataDirectory(string dataDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDirectory);
        return new SqliteSecretStore(Path.Combine(dataDirectory, DefaultFileName));
    }

    /// <inheritdoc/>
    public override async Task AddAsync(SecretEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!SecretFormat.TryNormalizeUuid(entry.Uuid, out string? uuid))
        {
            throw new ArgumentException($"'{entry.Uuid}' is not a UUID.", nameof(entry));
        }

        if (!SecretFormat.IsValidStep(entry.Step))
        {
            throw new ArgumentException($"Step {entry.Step} must be between {SecretFormat.MinimumStep} and {SecretFormat.MaximumStep} seconds.", nameof(entry));
        }

        if (!SecretFormat.IsValidDigits(entry.Digits))
        {
            throw new ArgumentException($"Digits {entry.Digits} must be between {SecretFormat.MinimumDigits} and {SecretFormat.MaximumDigits}.", nameof(entry));
        }

        if (entry.Secret is null || entry.Secret.Length < SecretFormat.MinimumSecretBytes)
        {
            throw new ArgumentException($"The secret must be at least {SecretFormat.MinimumSecretBytes} bytes.", nameof(entry));
        }

        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO secrets (uuid, secret, step, digits, created_at, last_step)
            VALUES (@uuid, @secret, @step, @digits, @created_at, NULL)
            ON CONFLICT (uuid) DO NOTHING
            """;
        command.Parameters.AddWithValue("@uuid", uuid);
        command.Parameters.AddWithValue("@secret", entry.Secret);
        command.Parameters.AddWithValue("@step", entry.Step);
        command.Parameters.AddWithValue("@digits", entry.Digits);
        command.Parameters.AddWithValue("@created_at", entry.CreatedAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
        int rows = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        if (rows == 0)
        {
            throw new DuplicateSecretException(uuid);
        }
    }

    /// <inheritdoc/>
    public override async Task<SecretEntry?> TryGetAsync(string uuid, CancellationToken cancellationToken = default)
    {
        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return null;
        }

        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT uuid, secret, step, digits, created_at FROM secrets WHERE uuid = @uuid";
        command.Parameters.AddWithValue("@uuid", canonical);
        await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? ReadEntry(reader) : null;
    }

    /// <inheritdoc/>
    public override async Task<IReadOnlyList<SecretEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT uuid, secret, step, digits, created_at FROM secrets ORDER BY created_at, uuid";
        await using SqliteDataReader reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var entries = new List<SecretEntry>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            entries.Add(ReadEntry(reader));
        }

        return entries;
    }

    /// <inheritdoc/>
    public override async Task<bool> RemoveAsync(string uuid, CancellationToken cancellationToken = default)
    {
        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return false;
        }

        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "DELETE FROM secrets WHERE uuid = @uuid";
        command.Parameters.AddWithValue("@uuid", canonical);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc/>
    public override async Task<bool> ReplaceSecretAsync(string uuid, byte[] secret, CancellationToken cancellationToken = default)
    {
        if (secret is null || secret.Length < SecretFormat.MinimumSecretBytes)
        {
            throw new ArgumentException($"The secret must be at least {SecretFormat.MinimumSecretBytes} bytes.", nameof(secret));
        }

        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return false;
        }

        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "UPDATE secrets SET secret = @secret WHERE uuid = @uuid";
        command.Parameters.AddWithValue("@uuid", canonical);
        command.Parameters.AddWithValue("@secret", secret);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <inheritdoc/>
    public override async Task<bool> TryAdvanceLastStepAsync(string uuid, long step, CancellationToken cancellationToken = default)
    {
        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return false;
        }

        await using SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using SqliteCommand command = connection.CreateCommand();

        // One statement: SQLite serialises writers, so of two requests with the same step exactly one updates a row.
        command.CommandText = "UPDATE secrets SET last_step = @step WHERE uuid = @uuid AND (last_step IS NULL OR last_step < @step)";
        command.Parameters.AddWithValue("@uuid", canonical);
        command.Parameters.AddWithValue("@step", step);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private static SecretEntry ReadEntry(SqliteDataReader reader) => new(
        reader.GetString(0),
        (byte[])reader.GetValue(1),
        reader.GetInt32(2),
        reader.GetInt32(3),
        DateTimeOffset.Parse(reader.GetString(4), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (!_initialized)
        {
            await InitializeAsync(cancellationToken).ConfigureAwait(false);
        }

        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using SqliteCommand pragma = connection.CreateCommand();
            pragma.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds.ToString(CultureInfo.InvariantCulture)};";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initializeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            CreateFileWithOwnerOnlyAccess();

            await using var connection = new SqliteConnection(_connectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using SqliteCommand command = connection.CreateCommand();
            command.CommandText = $"""
                PRAGMA busy_timeout = {BusyTimeoutMilliseconds.ToString(CultureInfo.InvariantCulture)};
                PRAGMA journal_mode = WAL;
                CREATE TABLE IF NOT EXISTS secrets (
                    uuid TEXT NOT NULL PRIMARY KEY,
                    secret BLOB NOT NULL,
                    step INTEGER NOT NULL,
                    digits INTEGER NOT NULL,
                    created_at TEXT NOT NULL,
                    last_step INTEGER NULL
                );
                """;
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            _initialized = true;
        }
        finally
        {
            _initializeLock.Release();
        }
    }

    // The file must exist with mode 0600 before SQLite opens it: SQLite would create it with the umask's mode
    // (often world-readable), and its -wal and -shm files copy the main file's mode.
    private void CreateFileWithOwnerOnlyAccess()
    {
        string directory = Path.GetDirectoryName(DatabasePath)!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, DirectoryMode);
            }
        }

        if (File.Exists(DatabasePath))
        {
            return;
        }

        var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        try
        {
            using var stream = new FileStream(DatabasePath, options);
        }
        catch (IOException) when (File.Exists(DatabasePath))
        {
            // Another process created it first.
        }
    }
}
