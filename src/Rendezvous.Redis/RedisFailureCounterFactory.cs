using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rendezvous.Protocol.Policy;
using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>
/// Creates failure counters kept in Redis, shared by every node of a cluster: failures spread over nodes count as if
/// they came to one. Each counted key is one small hash, <c>{KeyPrefix}fail:{name}:{key}</c> (<c>w</c>: the window's
/// token, Redis's clock in microseconds when the window began; <c>n</c>: the failures in it), which expires with its
/// window, so Redis holds only the keys with failures in a window now (<c>maxKeys</c> is not needed). Every operation
/// is one Lua script, so checking and counting are one step across nodes; a slot given back after its window ended
/// never touches a later window. Windows are measured by Redis's clock. When Redis cannot be reached the counters
/// throw (a <see cref="RedisException"/> or <see cref="RedisTimeoutException"/>, within the connection's 2-second
/// timeouts), and the TOTP policy answers "service unavailable" instead of deciding without them. Registered as the
/// <see cref="IFailureCounterFactory"/> by <c>AddRedisCluster()</c>.
/// </summary>
public sealed class RedisFailureCounterFactory : IFailureCounterFactory
{
    private readonly RedisConnection _connection;
    private readonly RedisFailureState _state;

    internal RedisFailureCounterFactory(RedisConnection connection, ILogger<RedisFailureCounterFactory>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ILogger log = (ILogger?)logger ?? NullLogger.Instance;
        _connection = connection;
        _state = new RedisFailureState(
            connection,
            reason => RedisLog.FailureCountersFailing(log, connection.Description, reason),
            () => RedisLog.FailureCountersRecovered(log, connection.Description));
    }

    /// <summary>Creates a counter; counters of one <paramref name="name"/> share their counts on every node.</summary>
    /// <param name="name">What the counter counts (<c>uuid</c>, <c>address</c>, ...); part of its keys' names.</param>
    /// <param name="limit">Failures in one window after which a key is throttled; at least 1.</param>
    /// <param name="window">How long failures are counted from a key's first one; at least one millisecond.</param>
    /// <param name="maxKeys">Not used: the keys expire with their windows. At least 1, as for any factory.</param>
    /// <returns>The counter.</returns>
    public IFailureCounter Create(string name, int limit, TimeSpan window, int maxKeys)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, TimeSpan.FromMilliseconds(1));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        return new Counter(_state, _connection.Prefix + "fail:" + name + ":", limit, (long)window.TotalMilliseconds);
    }

    private sealed class Counter(RedisFailureState state, string keyPrefix, int limit, long windowMilliseconds) : IFailureCounter
    {
        private const long MinimumRetryAfterMilliseconds = 1000;

        // KEYS[1] the counter; ARGV[1] the limit (0: count whatever the limit), ARGV[2] the window in milliseconds.
        // Answers {1, window token} when counted, {0, milliseconds left} when throttled.
        private const string CountScript = """
            local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
            local limit = tonumber(ARGV[1])
            if limit > 0 and n >= limit then
                local left = redis.call('PTTL', KEYS[1])
                if left < 0 then
                    redis.call('PEXPIRE', KEYS[1], ARGV[2])
                    left = tonumber(ARGV[2])
                end
                return {0, left}
            end
            local w = redis.call('HGET', KEYS[1], 'w')
            if w then
                redis.call('HINCRBY', KEYS[1], 'n', 1)
            else
                local t = redis.call('TIME')
                w = t[1] .. string.format('%06d', tonumber(t[2]))
                redis.call('HSET', KEYS[1], 'w', w, 'n', 1)
                redis.call('PEXPIRE', KEYS[1], ARGV[2])
            end
            return {1, w}
            """;

        // KEYS[1] the counter; ARGV[1] the window token of the slot. A later window (another token) is never touched.
        private const string ReleaseScript = """
            if redis.call('HGET', KEYS[1], 'w') ~= ARGV[1] then return 0 end
            if redis.call('HINCRBY', KEYS[1], 'n', -1) <= 0 then redis.call('DEL', KEYS[1]) end
            return 1
            """;

        // KEYS[1] the counter; ARGV[1] the limit. Milliseconds left when throttled, else 0.
        private const string RetryAfterScript = """
            local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
            if n < tonumber(ARGV[1]) then return 0 end
            local left = redis.call('PTTL', KEYS[1])
            if left < 0 then return 0 end
            return left
            """;

        public async ValueTask<FailureSlot> TryReserveAsync(string key, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(key);
            var answer = (RedisResult[])(await CountAsync(key, limit, cancellationToken).ConfigureAwait(false))!;
            return (int)answer[0] == 1
                ? new FailureSlot(key, IsReserved: true, TimeSpan.Zero, long.Parse((string)answer[1]!, CultureInfo.InvariantCulture))
                : new FailureSlot(key, IsReserved: false, RetryAfter((long)answer[1]), Window: 0);
        }

        public async ValueTask ReleaseAsync(FailureSlot slot, CancellationToken cancellationToken = default)
        {
            if (!slot.IsReserved || slot.Key is null)
            {
                return;
            }

            await state.RunAsync(
                database => database.ScriptEvaluateAsync(ReleaseScript, [CounterKey(slot.Key)], [slot.Window.ToString(CultureInfo.InvariantCulture)]),
                cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask RecordFailureAsync(string key, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(key);
            await CountAsync(key, 0, cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask ClearAsync(string key, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(key);
            await state.RunAsync(database => database.KeyDeleteAsync(CounterKey(key)), cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask<TimeSpan> GetRetryAfterAsync(string key, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(key);
            RedisResult left = await state.RunAsync(
                database => database.ScriptEvaluateAsync(RetryAfterScript, [CounterKey(key)], [limit]),
                cancellationToken).ConfigureAwait(false);
            return (long)left > 0 ? RetryAfter((long)left) : TimeSpan.Zero;
        }

        private static TimeSpan RetryAfter(long milliseconds) => TimeSpan.FromMilliseconds(Math.Max(milliseconds, MinimumRetryAfterMilliseconds));

        private Task<RedisResult> CountAsync(string key, int countLimit, CancellationToken cancellationToken) => state.RunAsync(
            database => database.ScriptEvaluateAsync(CountScript, [CounterKey(key)], [countLimit, windowMilliseconds]),
            cancellationToken);

        private RedisKey CounterKey(string key) => keyPrefix + key;
    }
}
