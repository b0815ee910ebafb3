using Microsoft.Extensions.Logging;

namespace Rendezvous.Redis;

/// <summary>The cluster's log events (6000–6099).</summary>
internal static partial class RedisLog
{
    [LoggerMessage(6001, LogLevel.Warning, "Redis at {Configuration} is not reachable yet; what needs it answers 503 until it is", EventName = "RedisNotConnected")]
    public static partial void NotConnected(ILogger logger, string configuration);

    [LoggerMessage(6010, LogLevel.Error, "The secret store in Redis at {Store} is failing: {Reason} Registrations are answered 503 (retry later) until it works again; lookups and relaying of registered hidden servers go on", EventName = "RedisSecretStoreFailing")]
    public static partial void SecretStoreFailing(ILogger logger, string store, string reason);

    [LoggerMessage(6011, LogLevel.Information, "The secret store in Redis at {Store} works again", EventName = "RedisSecretStoreRecovered")]
    public static partial void SecretStoreRecovered(ILogger logger, string store);

    [LoggerMessage(6012, LogLevel.Error, "The failure counters in Redis at {Store} are failing: {Reason} Registrations are answered 503 (retry later) until they work again", EventName = "RedisFailureCountersFailing")]
    public static partial void FailureCountersFailing(ILogger logger, string store, string reason);

    [LoggerMessage(6013, LogLevel.Information, "The failure counters in Redis at {Store} work again", EventName = "RedisFailureCountersRecovered")]
    public static partial void FailureCountersRecovered(ILogger logger, string store);
}
