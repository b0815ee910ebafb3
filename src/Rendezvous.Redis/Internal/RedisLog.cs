using Microsoft.Extensions.Logging;

namespace Rendezvous.Redis;

/// <summary>The cluster's log events (6000–6099).</summary>
internal static partial class RedisLog
{
    [LoggerMessage(6001, LogLevel.Warning, "Redis at {Configuration} is not reachable yet; what needs it answers 503 until it is", EventName = "RedisNotConnected")]
    public static partial void NotConnected(ILogger logger, string configuration);
}
