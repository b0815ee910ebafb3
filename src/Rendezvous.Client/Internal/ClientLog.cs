using System.Net;
using Microsoft.Extensions.Logging;
using Rendezvous.Client.Sessions;

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

    [LoggerMessage(4007, LogLevel.Warning, "The owner relay {Relay} of {Uuid} has been unreachable for {After} while its alternates serve; registering again for a live one", EventName = "OwnerRelayLost")]
    public static partial void OwnerRelayLost(ILogger logger, string uuid, string relay, TimeSpan after);

    [LoggerMessage(4008, LogLevel.Information, "Whole pools of {Uuid} were taken quickly; parking {Pool}", EventName = "PoolGrew")]
    public static partial void PoolGrew(ILogger logger, string uuid, int pool);

    [LoggerMessage(4009, LogLevel.Information, "The pool of {Uuid} was quiet; parking {Pool}", EventName = "PoolShrank")]
    public static partial void PoolShrank(ILogger logger, string uuid, int pool);

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

    [LoggerMessage(4030, LogLevel.Information, "Forwarding connections accepted on {EndPoint} to {Uuid}", EventName = "ForwarderListening")]
    public static partial void ForwarderListening(ILogger logger, IPEndPoint endPoint, string uuid);

    [LoggerMessage(4031, LogLevel.Warning, "Connection from {Client} not forwarded: {Reason}", EventName = "ForwardingFailed")]
    public static partial void ForwardingFailed(ILogger logger, EndPoint? client, string reason);

    [LoggerMessage(4032, LogLevel.Debug, "Connection from {Client} ended ({End}, {BytesSent} bytes sent, {BytesReceived} received)", EventName = "ForwardingEnded")]
    public static partial void ForwardingEnded(ILogger logger, EndPoint? client, SessionRelayEnd end, long bytesSent, long bytesReceived);

    [LoggerMessage(4033, LogLevel.Warning, "Accepting on {EndPoint} failed: {Reason}; {Failures} failed accepts since the last report, retrying every {Retry}", EventName = "ForwarderAcceptFailed")]
    public static partial void ForwarderAcceptFailed(ILogger logger, IPEndPoint endPoint, string reason, int failures, TimeSpan retry);

    [LoggerMessage(4034, LogLevel.Error, "Accepting on {EndPoint} failed; the forwarder stops", EventName = "ForwarderListenerFailed")]
    public static partial void ForwarderListenerFailed(ILogger logger, IPEndPoint endPoint, Exception exception);

    [LoggerMessage(4035, LogLevel.Warning, "{Connections} forwarded connections had not ended {Timeout} after the forwarder stopped", EventName = "ForwarderShutdownTimedOut")]
    public static partial void ForwarderShutdownTimedOut(ILogger logger, int connections, TimeSpan timeout);

    [LoggerMessage(4036, LogLevel.Error, "A ConnectionFailed handler of the forwarder threw", EventName = "ForwarderHandlerFailed")]
    public static partial void ForwarderHandlerFailed(ILogger logger, Exception exception);
}
