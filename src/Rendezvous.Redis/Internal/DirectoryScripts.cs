namespace Rendezvous.Redis;

/// <summary>
/// The directory's Lua scripts: each operation is one script, so it is atomic and costs one round trip.
/// Key layout (prefix <c>P</c> = <see cref="RedisClusterOptions.KeyPrefix"/>):
/// <c>P reg:UUID</c> hash {i: I value, g: generation, o: owner node id, a: alternate node ids, space-separated};
/// <c>P ini:I</c> the UUID whose current I value this is; both expire after <see cref="RedisClusterOptions.EntryLifetime"/>
/// unless renewed. <c>P node:ID</c> hash {h: public host, p: public port, l: parked connections, r: registrations held},
/// expiring after <see cref="RedisClusterOptions.NodeTimeout"/>; <c>P nodes</c> sorted set of node ids scored by when
/// their record expires (ms); channel <c>P events</c> carries "GENERATION UUID" for every registration and removal.
/// Scripts reach keys they derive (a node's record, a previous index entry), so on a Redis Cluster the prefix must be
/// a hash tag such as <c>{rendezvous}:</c>.
/// </summary>
internal static class DirectoryScripts
{
    /// <summary>
    /// KEYS: entry, new index. ARGV: uuid, I, owner, alternates, lifetime ms, channel, prefix. Bumps the generation
    /// (the Redis clock in microseconds, or one more than the previous generation when that is larger, so it never goes
    /// back even after the entry expired), writes entry and index, drops the previous index, publishes. Returns the generation.
    /// </summary>
    public const string Register = """
        local previous = redis.call('HMGET', KEYS[1], 'i', 'g')
        local t = redis.call('TIME')
        local g = tonumber(t[1]) * 1000000 + tonumber(t[2])
        if previous[2] and tonumber(previous[2]) >= g then g = tonumber(previous[2]) + 1 end
        local gs = string.format('%.0f', g)
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'i', ARGV[2], 'g', gs, 'o', ARGV[3], 'a', ARGV[4])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[5])
        if previous[1] and previous[1] ~= ARGV[2] then redis.call('DEL', ARGV[7] .. 'ini:' .. previous[1]) end
        redis.call('PUBLISH', ARGV[6], gs .. ' ' .. ARGV[1])
        return gs
        """;

    /// <summary>
    /// KEYS: entry. ARGV: prefix. Returns nil when not registered or none of its nodes is alive, else
    /// {I, host, port, host, port...}: the live nodes among owner and alternates, in that order.
    /// </summary>
    public const string Lookup = """
        local e = redis.call('HMGET', KEYS[1], 'i', 'o', 'a')
        if not e[1] then return nil end
        local out = { e[1] }
        local function add(id)
          local n = redis.call('HMGET', ARGV[1] .. 'node:' .. id, 'h', 'p')
          if n[1] then out[#out + 1] = n[1]; out[#out + 1] = n[2] end
        end
        add(e[2])
        if e[3] then for id in string.gmatch(e[3], '%S+') do add(id) end end
        if #out == 1 then return nil end
        return out
        """;

    /// <summary>KEYS: index of I. ARGV: I, prefix. Returns nil, or {uuid, generation, owner, alternates} when I is current.</summary>
    public const string Find = """
        local u = redis.call('GET', KEYS[1])
        if not u then return nil end
        local e = redis.call('HMGET', ARGV[2] .. 'reg:' .. u, 'i', 'g', 'o', 'a')
        if e[1] ~= ARGV[1] then return nil end
        return { u, e[2], e[3], e[4] or '' }
        """;

    /// <summary>
    /// KEYS: entry, index of I. ARGV: I, lifetime ms. Renews both when I is still current; returns the entry's
    /// generation (a newer one when superseded), or nil when it is gone.
    /// </summary>
    public const string Renew = """
        local e = redis.call('HMGET', KEYS[1], 'i', 'g')
        if not e[1] then return nil end
        if e[1] == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          redis.call('PEXPIRE', KEYS[2], ARGV[2])
        end
        return e[2]
        """;

    /// <summary>KEYS: entry. ARGV: uuid, channel, prefix. Deletes entry and index, publishes; returns the removal's generation or nil.</summary>
    public const string Unregister = """
        local e = redis.call('HMGET', KEYS[1], 'i', 'g')
        if not e[1] then return nil end
        redis.call('DEL', KEYS[1], ARGV[3] .. 'ini:' .. e[1])
        local gs = string.format('%.0f', tonumber(e[2]) + 1)
        redis.call('PUBLISH', ARGV[2], gs .. ' ' .. ARGV[1])
        return gs
        """;

    /// <summary>
    /// KEYS: this node's record, the node set. ARGV: id, host, port, parked, registrations, timeout ms, prefix, max nodes.
    /// Writes the record with its TTL, drops expired members of the set, returns {id, host, port, parked...} of live nodes.
    /// </summary>
    public const string Heartbeat = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('HSET', KEYS[1], 'h', ARGV[2], 'p', ARGV[3], 'l', ARGV[4], 'r', ARGV[5])
        redis.call('PEXPIRE', KEYS[1], ARGV[6])
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[1])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
        local out = {}
        for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[8]) - 1)) do
          local n = redis.call('HMGET', ARGV[7] .. 'node:' .. id, 'h', 'p', 'l')
          if n[1] then out[#out + 1] = id; out[#out + 1] = n[1]; out[#out + 1] = n[2]; out[#out + 1] = n[3] or '0' end
        end
        return out
        """;

    /// <summary>KEYS: this node's record, the node set. ARGV: id. A graceful leave.</summary>
    public const string Leave = """
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        return 1
        """;
}
