namespace Rendezvous.Redis;

/// <summary>
/// Settings of one node of a Rendezvous cluster on Redis, bound from the configuration section <c>Rendezvous:Cluster</c>
/// (<c>rendezvous serve --cluster REDIS</c> sets <see cref="Configuration"/>).
/// </summary>
public sealed class RedisClusterOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string SectionName = "Rendezvous:Cluster";

    /// <summary>
    /// The StackExchange.Redis configuration string: <c>host:port</c>, several endpoints, a Sentinel service
    /// (<c>serviceName=...</c>) or a Redis Cluster, with options such as <c>password=...</c> and <c>ssl=true</c>. Required.
    /// </summary>
    public string? Configuration { get; set; }

    /// <summary>
    /// This node's name in the directory, unique in the cluster. Defaults to the node's public rendezvous endpoint
    /// (<c>host:port</c>), which is unique by construction.
    /// </summary>
    public string? NodeId { get; set; }

    /// <summary>The prefix of every key and channel the cluster uses, so that one Redis can serve several clusters. Defaults to <c>rendezvous:</c>.</summary>
    public string KeyPrefix { get; set; } = "rendezvous:";

    /// <summary>
    /// How often the node writes its record (public relay endpoint and load) to Redis, renewing its liveness.
    /// 100 ms to 1 minute, and less than <see cref="NodeTimeout"/>. Defaults to 1 second.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the node's record lives without a heartbeat: once a node has been silent this long (killed, cut off
    /// from Redis), lookups stop naming it. At least twice <see cref="HeartbeatInterval"/>, at most 10 minutes.
    /// Defaults to 3 seconds.
    /// </summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How many other nodes a registration names as alternates, where the hidden server also parks and clients fall
    /// back to: 0 to 2. Defaults to 1.
    /// </summary>
    public int Alternates { get; set; } = 1;

    /// <summary>Which node a hidden server is told to park at. Defaults to <see cref="RedisPlacement.Self"/>.</summary>
    public RedisPlacement Placement { get; set; } = RedisPlacement.Self;

    /// <summary>
    /// How long a registration lives in Redis without being renewed. The nodes where it parks renew the
    /// registrations they hold every quarter of this time (in batches, a few hundred per command round trip), so a
    /// registration lives as long as one of its nodes does, and the entries of nodes that are gone disappear from
    /// Redis after at most this long. 1 minute to 30 days. Defaults to 1 hour.
    /// </summary>
    public TimeSpan EntryLifetime { get; set; } = TimeSpan.FromHours(1);
}
