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
}
