using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rendezvous.Security.Internal;

namespace Rendezvous.Security;

/// <summary>
/// Keeps secrets in an embedded SQLite database file, created on first use with owner-only permissions
/// (file mode 0600, directory 0700 on Unix). Every operation opens its own (pooled) connection and nothing
/// is cached, so entries added by another process (the <c>rendezvous users</c> command) take effect at once.
/// Once created, the file is never created again by the same store: when it is removed (or its directory is) while
/// in use, or SQLite fails on it (for example a damaged header), every operation fails until it works again, and
/// <see cref="CheckHealthAsync"/> says why. Each change between working and failing is logged once.
/// </summary>
public sealed class SqliteSecretStore : SecretStore
{
    /// <summary>The database file name inside a data directory (<c>rendezvous.db</c>).</summary>
    public const string DefaultFileName = "rendezvous.db";

    private const int BusyTimeoutMilliseconds = 5000;

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _connectionString;
    private readonly string _probeConnectionString;
    private readonly SemaphoreSlim _initializeLock = new(1, 1);
    private readonly Lock _stateLock = new();
    private readonly ILogger _logger;
    private volatile bool _initialized;
    private string? _failure;

    /// <summary>Creates a store over the database file <paramref name="databasePath"/>; nothing is touched until first use.</summary>
    /// <param name="databasePath">The database file, for example <c>./rendezvous-data/rendezvous.db</c>.</param>
    public SqliteSecretStore(string databasePath)
        : this(databasePath, NullLogger.Instance)
    {
    }

    /// <summary>
    /// Creates a store over the database file <paramref name="databasePath"/> that logs when it starts failing (with the
    /// reason) and when it works again, once per change; nothing is touched until first use.
    /// </summary>
    /// <param name="databasePath">The database file, for example <c>./rendezvous-data/rendezvous.db</c>.</param>
    /// <param name="logger">Where the changes between working and failing are logged.</param>
    public SqliteSecretStore(string databasePath, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(databasePath);
        ArgumentNullException.ThrowIfNull(logger);
        DatabasePath = Path.GetFullPath(databasePath);
        _logger = logger;
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
            DefaultTimeout = BusyTimeoutMilliseconds / 1000,
        };
        _connectionString = builder.ToString();

        // The health probe opens the file at the path afresh, never a pooled connection to a file since removed.
        builder.Pooling = false;
        _probeConnectionString = builder.ToString();
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
        string uuid = SecretFormat.ValidateEntry(entry);
        int rows = await RunAsync(
            async (connection, ct) =>
            {
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
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
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

        return await RunAsync(
            async (connection, ct) =>
            {
                await using SqliteCommand command = connection.CreateCommand();
                command.CommandText = "SELECT uuid, secret, step, digits, created_at FROM secrets WHERE uuid = @uuid";
                command.Parameters.AddWithValue("@uuid", canonical);
                await using SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadEntry(reader) : null;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override async Task<IReadOnlyList<SecretEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        return await RunAsync<IReadOnlyList<SecretEntry>>(
            async (connection, ct) =>
            {
                await using SqliteCommand command = connection.CreateCommand();
                command.CommandText = "SELECT uuid, secret, step, digits, created_at FROM secrets ORDER BY created_at, uuid";
                await using SqliteDataReader reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var entries = new List<SecretEntry>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    entries.Add(ReadEntry(reader));
                }

                return entries;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override async Task<bool> RemoveAsync(string uuid, CancellationToken cancellationToken = default)
    {
        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return false;
        }

        return await ExecuteAsync(
            "DELETE FROM secrets WHERE uuid = @uuid",
            command => command.Parameters.AddWithValue("@uuid", canonical),
            cancellationToken).ConfigureAwait(false) > 0;
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

        return await ExecuteAsync(
            "UPDATE secrets SET secret = @secret WHERE uuid = @uuid",
            command =>
            {
                command.Parameters.AddWithValue("@uuid", canonical);
                command.Parameters.AddWithValue("@secret", secret);
            },
            cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <inheritdoc/>
    public override async Task<bool> TryAdvanceLastStepAsync(string uuid, long step, CancellationToken cancellationToken = default)
    {
        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return false;
        }

        // One statement: SQLite serialises writers, so of two requests with the same step exactly one updates a row.
        return await ExecuteAsync(
            "UPDATE secrets SET last_step = @step WHERE uuid = @uuid AND (last_step IS NULL OR last_step < @step)",
            command =>
            {
                command.Parameters.AddWithValue("@uuid", canonical);
                command.Parameters.AddWithValue("@step", step);
            },
            cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Checks the database file at <see cref="DatabasePath"/> now: it must still be there and SQLite must read the
    /// secrets table from it, on a connection opened afresh for the check. Creates the database when this store has
    /// not used it yet, like any first operation.
    /// </summary>
    /// <inheritdoc/>
    public override async Task<string?> CheckHealthAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await EnsureUsableAsync(cancellationToken).ConfigureAwait(false);
            await using var connection = new SqliteConnection(_probeConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "SELECT count(*) FROM (SELECT 1 FROM secrets LIMIT 1)";
            await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            Succeeded();
            return null;
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            return Failed(exception);
        }
    }

    private static SecretEntry ReadEntry(SqliteDataReader reader) => new(
        reader.GetString(0),
        (byte[])reader.GetValue(1),
        reader.GetInt32(2),
        reader.GetInt32(3),
        DateTimeOffset.Parse(reader.GetString(4), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));

    /// <summary>Whether an exception says the database failed (rather than the caller, or a cancellation).</summary>
    private static bool IsStoreFailure(Exception exception) =>
        exception is SqliteException or IOException or UnauthorizedAccessException;

    /// <summary>Runs one statement that changes rows and returns how many it changed.</summary>
    private Task<int> ExecuteAsync(string sql, Action<SqliteCommand> bind, CancellationToken cancellationToken) =>
        RunAsync(
            async (connection, ct) =>
            {
                await using SqliteCommand command = connection.CreateCommand();
                command.CommandText = sql;
                bind(command);
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken);

    /// <summary>Runs one operation on a pooled connection and records whether the database worked.</summary>
    private async Task<T> RunAsync<T>(Func<SqliteConnection, CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            SqliteConnection connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            if (NativeMethods.HasMoved(connection))
            {
                // A pooled connection to a file replaced at the path (say by a backup moved into place): every pooled
                // connection goes, and the operation runs on the file now at the path.
                await connection.DisposeAsync().ConfigureAwait(false);
                ClearPool();
                SecurityLog.SecretStoreReplaced(_logger, DatabasePath);
                connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            }

            await using SqliteConnection used = connection;
            T result = await operation(connection, cancellationToken).ConfigureAwait(false);
            Succeeded();
            return result;
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            Failed(exception);
            throw;
        }
    }

    /// <summary>
    /// Creates the database on first use; afterwards only checks that its file is still there. A pooled connection
    /// would go on reading and writing a removed file (its data then lost at the next restart), and opening the path
    /// afresh must not make a new empty database in its place.
    /// </summary>
    private async Task EnsureUsableAsync(CancellationToken cancellationToken)
    {
        if (!_initialized)
        {
            await InitializeAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (!File.Exists(DatabasePath))
        {
            throw new FileNotFoundException(
                $"The database file {DatabasePath} was removed while in use; put it back (from a backup) or restart to start with an empty one.",
                DatabasePath);
        }
    }

    /// <summary>The database worked: logs the recovery when it was failing.</summary>
    private void Succeeded()
    {
        if (Volatile.Read(ref _failure) is null)
        {
            return;
        }

        lock (_stateLock)
        {
            if (_failure is null)
            {
                return;
            }

            _failure = null;
        }

        SecurityLog.SecretStoreRecovered(_logger, DatabasePath);
    }

    /// <summary>
    /// The database failed: drops the pooled connections (the next operation opens the file at the path afresh) and
    /// logs the reason when it was working.
    /// </summary>
    /// <returns>The reason.</returns>
    private string Failed(Exception exception)
    {
        string reason = exception.Message;
        bool wasWorking;
        lock (_stateLock)
        {
            wasWorking = _failure is null;
            _failure = reason;
        }

        ClearPool();
        if (wasWorking)
        {
            SecurityLog.SecretStoreFailing(_logger, DatabasePath, reason);
        }

        return reason;
    }

    /// <summary>Drops the pooled connections: the next operation opens the file at the path afresh.</summary>
    private void ClearPool()
    {
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        await EnsureUsableAsync(cancellationToken).ConfigureAwait(false);

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
