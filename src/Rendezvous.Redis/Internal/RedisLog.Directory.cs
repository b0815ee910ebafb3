using Microsoft.Extensions.Logging;

namespace Rendezvous.Redis;

/// <summary>The directory's and the membership's log events (6040–6079): state changes only, never one per request.</summary>
internal static partial class RedisLog
{
    [LoggerMessage(6040, LogLevel.Warning, "The registration directory cannot reach Redis ({Reason}); registrations and lookups answer 503, parked hidden servers keep pairing", EventName = "DirectoryUnavailable")]
    public static partial void DirectoryUnavailable(ILogger logger, string reason);

    [LoggerMessage(6041, LogLevel.Information, "The registration directory reaches Redis again", EventName = "DirectoryAvailable")]
    public static partial void DirectoryAvailable(ILogger logger);

    [LoggerMessage(6042, LogLevel.Information, "Cluster node {NodeId} (relay {Host}:{Port}) joined the cluster on Redis {Configuration}", EventName = "NodeJoined")]
    public static partial void NodeJoined(ILogger logger, string nodeId, string host, int port, string configuration);

    [LoggerMessage(6043, LogLevel.Information, "Cluster node {NodeId} left the cluster", EventName = "NodeLeft")]
    public static partial void NodeLeft(ILogger logger, string nodeId);

    [LoggerMessage(6044, LogLevel.Information, "Live cluster nodes changed: {Count} now ({Nodes})", EventName = "LiveNodesChanged")]
    public static partial void LiveNodesChanged(ILogger logger, int count, string nodes);

    [LoggerMessage(6045, LogLevel.Information, "Subscribed to the cluster's events on {Channel}", EventName = "EventsSubscribed")]
    public static partial void EventsSubscribed(ILogger logger, string channel);

    [LoggerMessage(6046, LogLevel.Information, "Redis connection restored; renewing and checking the registrations this node holds", EventName = "RedisRestored")]
    public static partial void RedisRestored(ILogger logger);

    [LoggerMessage(6047, LogLevel.Warning, "Redis connection lost ({Reason}); heartbeats and cluster events resume by themselves when it is back", EventName = "RedisLost")]
    public static partial void RedisLost(ILogger logger, string reason);

    [LoggerMessage(6048, LogLevel.Warning, "Adoption lookups are being refused: more than {Limit} per second for cookies this node does not hold", EventName = "AdoptionRateLimited")]
    public static partial void AdoptionRateLimited(ILogger logger, int limit);

    [LoggerMessage(6049, LogLevel.Warning, "A malformed cluster event ({Length} bytes) was ignored", EventName = "MalformedEvent")]
    public static partial void MalformedEvent(ILogger logger, int length);
}
