using Microsoft.Extensions.Logging;

namespace Rendezvous.Client.Internal;

/// <summary>The client library's log messages. Secrets, codes and cookies are never logged.</summary>
internal static partial class ClientLog
{
    [LoggerMessage(4001, LogLevel.Information, "Registered {Uuid}; parking at {Relay}", EventName = "Registered")]
    public static partial void Registered(ILogger logger, string uuid, string relay);

    [LoggerMessage(4002, LogLevel.Warning, "Registering {Uuid} failed: {Reason}; retrying in {Delay}", EventName = "RegistrationFailed")]
    public static partial void RegistrationFailed(ILogger logger, string uuid, string reason, TimeSpan delay);

    [LoggerMessage(4003, LogLevel.Information, "The relay no longer knows {Uuid}'s registration (relay restarted?); registering again", EventName = "Reregistering")]
    public static partial void Reregistering(ILogger logger, string uuid);

    [LoggerMessage(4004, LogLevel.Warning, "{Uuid} was registered by another hidden server; stepping back", EventName = "Superseded")]
    public static partial void Superseded(ILogger logger, string uuid);

    [LoggerMessage(4005, LogLevel.Warning, "The relay keeps fewer parked connections per UUID than the pool size; parking {Pool}", EventName = "PoolReduced")]
    public static partial void PoolReduced(ILogger logger, int pool);

    [LoggerMessage(4006, LogLevel.Debug, "Parking a connection at {Relay} failed: {Reason}; retrying in {Delay}", EventName = "ParkFailed")]
    public static partial void ParkFailed(ILogger logger, string relay, string reason, TimeSpan delay);

    [LoggerMessage(4010, LogLevel.Information, "Session {Session} started", EventName = "SessionStarted")]
    public static partial void SessionStarted(ILogger logger, long session);

    [LoggerMessage(4011, LogLevel.Information, "Session {Session} ended", EventName = "SessionEnded")]
    public static partial void SessionEnded(ILogger logger, long session);

    [LoggerMessage(4012, LogLevel.Warning, "Session {Session} rejected: {Reason}", EventName = "SessionRejected")]
    public static partial void SessionRejected(ILogger logger, long session, string reason);

    [LoggerMessage(4013, LogLevel.Error, "Session {Session} handler failed", EventName = "SessionFailed")]
    public static partial void SessionFailed(ILogger logger, long session, Exception exception);

    [LoggerMessage(4020, LogLevel.Error, "The hidden server agent for {Uuid} stopped: {Reason}", EventName = "AgentFailed")]
    public static partial void AgentFailed(ILogger logger, string uuid, string reason);
}
