using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rendezvous.Security;
using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>
/// Keeps the TOTP secrets and each UUID's last accepted time step in Redis, shared by every node of a cluster. One hash
/// per UUID (<c>{KeyPrefix}secret:{uuid}</c>: <c>secret</c>, <c>step</c>, <c>digits</c>, <c>created</c> in UTC ticks,
/// <c>last</c> once a code was accepted) and one set of the UUIDs for listing (<c>{KeyPrefix}secrets</c>). Every change
/// is one Lua script over both keys, so it is atomic; recording an accepted step advances only to a later step, so two
/// nodes never both accept one code. On a Redis Cluster give <see cref="RedisClusterOptions.KeyPrefix"/> a hash tag
/// (<c>{rendezvous}:</c>) so that the two keys of a change share a slot. When Redis cannot be reached, operations fail
/// within the connection's 2-second timeouts with a <see cref="RedisException"/> or <see cref="RedisTimeoutException"/>
/// (never hang), <see cref="CheckHealthAsync"/> says why, and each change between working and failing is logged once.
/// In a server, <c>AddRedisCluster()</c> registers it as the <see cref="SecretStore"/>; elsewhere (a tool, a test)
/// <see cref="Create(RedisClusterOptions, ILogger)"/> makes one with a connection of its own.
/// </summary>
public sealed class RedisSecretStore : SecretStore, IAsyncDisposable
{
    // KEYS[1] the entry, KEYS[2] the set of UUIDs; ARGV: secret, step, digits, created ticks, uuid.
    private const string AddScript = """
        if redis.call('HSETNX', KEYS[1], 'secret', ARGV[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'step', ARGV[2], 'digits', ARGV[3], 'created', ARGV[4])
        redis.call('SADD', KEYS[2], ARGV[5])
        return 1
        """;

    // KEYS[1] the entry, KEYS[2] the set of UUIDs; ARGV[1] the uuid.
    private const string RemoveScript = """
        local removed = redis.call('DEL', KEYS[1])
        redis.call('SREM', KEYS[2], ARGV[1])
        return removed
        """;

    // KEYS[1] the entry; ARGV[1] the new secret. The last accepted step stays: no code of an earlier step ever passes.
    private const string ReplaceScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'secret', ARGV[1])
        return 1
        """;

    // KEYS[1] the entry; ARGV[1] the step. Check and record in one script: of two nodes with one step, exactly one wins.
    private const string AdvanceScript = """
        local last = redis.call('HGET', KEYS[1], 'last')
        if last then
            if tonumber(last) >= tonumber(ARGV[1]) then return 0 end
        elseif redis.call('EXISTS', KEYS[1]) == 0 then
            return 0
        end
        redis.call('HSET', KEYS[1], 'last', ARGV[1])
        return 1
        """;

    private static readonly RedisValue[] EntryFields = ["secret", "step", "digits", "created"];

    private readonly RedisConnection _connection;
    private readonly bool _ownsConnection;
    private readonly RedisKey _listKey;
    private readonly string _entryPrefix;
    private readonly RedisFailureState _state;

    internal RedisSecretStore(RedisConnection connection, ILogger logger)
        : this(connection, ownsConnection: false, logger)
    {
    }

    private RedisSecretStore(RedisConnection connection, bool ownsConnection, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(logger);
        _connection = connection;
        _ownsConnection = ownsConnection;
        _listKey = connection.Prefix + "secrets";
        _entryPrefix = connection.Prefix + "secret:";
        _state = new RedisFailureState(
            connection,
            reason => RedisLog.SecretStoreFailing(logger, connection.Description, reason),
            () => RedisLog.SecretStoreRecovered(logger, connection.Description));
    }

    /// <summary>Where the store is, for messages: the Redis configuration without its password, and the key prefix.</summary>
    public string Description => _connection.Description;

    /// <summary>
    /// Creates a store with a connection of its own to the Redis that <paramref name="options"/> names (for a tool such as
    /// <c>rendezvous users --cluster</c>, or a test); nothing connects until first use. Dispose it to close the connection.
    /// </summary>
    /// <param name="options">The cluster settings: <see cref="RedisClusterOptions.Configuration"/> and <see cref="RedisClusterOptions.KeyPrefix"/> are used.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentException">The options are not valid (the message names the bad value).</exception>
    public static RedisSecretStore Create(RedisClusterOptions options) => Create(options, NullLogger.Instance);

    /// <summary>
    /// Creates a store with a connection of its own to the Redis that <paramref name="options"/> names, logging when it
    /// starts failing and when it works again; nothing connects until first use. Dispose it to close the connection.
    /// </summary>
    /// <param name="options">The cluster settings: <see cref="RedisClusterOptions.Configuration"/> and <see cref="RedisClusterOptions.KeyPrefix"/> are used.</param>
    /// <param name="logger">Where the changes between working and failing are logged.</param>
    /// <returns>The store.</returns>
    /// <exception cref="ArgumentException">The options are not valid (the message names the bad value).</exception>
    public static RedisSecretStore Create(RedisClusterOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        ValidateOptionsResult result = new RedisClusterOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw new ArgumentException(string.Join(" ", result.Failures), nameof(options));
        }

        return new RedisSecretStore(new RedisConnection(Options.Create(options)), ownsConnection: true, logger);
    }

    /// <inheritdoc/>
    public override async Task AddAsync(SecretEntry entry, CancellationToken cancellationToken = default)
    {
        string uuid = SecretFormat.ValidateEntry(entry);
        RedisResult added = await _state.RunAsync(
            database => database.ScriptEvaluateAsync(
                AddScript,
                [EntryKey(uuid), _listKey],
                [entry.Secret, entry.Step, entry.Digits, entry.CreatedAt.UtcTicks, uuid]),
            cancellationToken).ConfigureAwait(false);
        if ((int)added == 0)
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

        RedisValue[] fields = await _state.RunAsync(database => database.HashGetAsync(EntryKey(canonical), EntryFields), cancellationToken).ConfigureAwait(false);
        return ReadEntry(canonical, fields);
    }

    /// <summary>Lists all entries, oldest first (by creation time, then UUID), like <see cref="SqliteSecretStore"/>.</summary>
    /// <inheritdoc/>
    public override async Task<IReadOnlyList<SecretEntry>> ListAsync(CancellationToken cancellationToken = default)
    {
        RedisValue[] uuids = await _state.RunAsync(database => database.SetMembersAsync(_listKey), cancellationToken).ConfigureAwait(false);
        if (uuids.Length == 0)
        {
            return [];
        }

        // One round trip: the reads are pipelined.
        RedisValue[][] rows = await _state.RunAsync(
            database => Task.WhenAll(uuids.Select(uuid => database.HashGetAsync(EntryKey(uuid.ToString()), EntryFields))),
            cancellationToken).ConfigureAwait(false);
        var entries = new List<SecretEntry>(uuids.Length);
        for (int i = 0; i < uuids.Length; i++)
        {
            if (ReadEntry(uuids[i].ToString(), rows[i]) is { } entry)
            {
                entries.Add(entry);
            }
        }

        entries.Sort(static (a, b) => a.CreatedAt.UtcTicks != b.CreatedAt.UtcTicks
            ? a.CreatedAt.UtcTicks.CompareTo(b.CreatedAt.UtcTicks)
            : string.CompareOrdinal(a.Uuid, b.Uuid));
        return entries;
    }

    /// <inheritdoc/>
    public override async Task<bool> RemoveAsync(string uuid, CancellationToken cancellationToken = default)
    {
        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return false;
        }

        RedisResult removed = await _state.RunAsync(
            database => database.ScriptEvaluateAsync(RemoveScript, [EntryKey(canonical), _listKey], [canonical]),
            cancellationToken).ConfigureAwait(false);
        return (int)removed == 1;
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

        RedisResult replaced = await _state.RunAsync(
            database => database.ScriptEvaluateAsync(ReplaceScript, [EntryKey(canonical)], [secret]),
            cancellationToken).ConfigureAwait(false);
        return (int)replaced == 1;
    }

    /// <inheritdoc/>
    public override async Task<bool> TryAdvanceLastStepAsync(string uuid, long step, CancellationToken cancellationToken = default)
    {
        if (!SecretFormat.TryNormalizeUuid(uuid, out string? canonical))
        {
            return false;
        }

        RedisResult advanced = await _state.RunAsync(
            database => database.ScriptEvaluateAsync(AdvanceScript, [EntryKey(canonical)], [step]),
            cancellationToken).ConfigureAwait(false);
        return (int)advanced == 1;
    }

    /// <summary>Checks now that Redis answers (a PING), within the connection's timeouts.</summary>
    /// <inheritdoc/>
    public override async Task<string?> CheckHealthAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _state.RunAsync(database => database.PingAsync(), cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception exception) when (RedisConnection.IsRedisFailure(exception))
        {
            return string.Create(CultureInfo.InvariantCulture, $"Redis at {Description} does not answer: {exception.Message}");
        }
    }

    /// <summary>Closes the connection when the store made its own (<see cref="Create(RedisClusterOptions, ILogger)"/>).</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_ownsConnection)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static SecretEntry? ReadEntry(string uuid, RedisValue[] fields)
    {
        // An entry removed between listing and reading has no fields left.
        if (fields[0].IsNull || fields[1].IsNull || fields[2].IsNull || fields[3].IsNull)
        {
            return null;
        }

        return new SecretEntry(
            uuid,
            (byte[])fields[0]!,
            (int)fields[1],
            (int)fields[2],
            new DateTimeOffset((long)fields[3], TimeSpan.Zero));
    }

    private RedisKey EntryKey(string uuid) => _entryPrefix + uuid;
}
