using System.Net;
using Microsoft.Extensions.Logging;
using Rendezvous.Protocol.Broker;

namespace Rendezvous.Protocol.Internal;

/// <summary>The protocol's log messages. Cookies, codes and secrets are never logged.</summary>
internal static partial class ProtocolLog
{
    [LoggerMessage(1001, LogLevel.Information, "Registered {Uuid} from {Remote}", EventName = "Registered")]
    public static partial void Registered(ILogger logger, string uuid, IPAddress? remote);

    [LoggerMessage(1002, LogLevel.Debug, "Registration for {Uuid} from {Remote} refused: {Outcome}", EventName = "RegistrationRefused")]
    public static partial void RegistrationRefused(ILogger logger, string uuid, IPAddress? remote, string outcome);

    [LoggerMessage(1003, LogLevel.Debug, "Lookup for {Uuid} from {Remote}: {Outcome}", EventName = "Lookup")]
    public static partial void Lookup(ILogger logger, string uuid, IPAddress? remote, string outcome);

    [LoggerMessage(1004, LogLevel.Warning, "The registration directory is unavailable; {What} for {Uuid} answered 503: {Reason}", EventName = "DirectoryUnavailable")]
    public static partial void DirectoryUnavailable(ILogger logger, string what, string uuid, string reason);

    [LoggerMessage(1010, LogLevel.Debug, "Connection from {Remote} parked", EventName = "Parked")]
    public static partial void Parked(ILogger logger, EndPoint? remote);

    [LoggerMessage(1011, LogLevel.Debug, "Parked connection from {Remote} left: {Outcome}", EventName = "Unparked")]
    public static partial void Unparked(ILogger logger, EndPoint? remote, ParkOutcome outcome);

    [LoggerMessage(1012, LogLevel.Debug, "Refused rendezvous connection from {Remote}: {Reason}", EventName = "HandshakeFailed")]
    public static partial void HandshakeFailed(ILogger logger, EndPoint? remote, string reason);

    [LoggerMessage(1020, LogLevel.Information, "Session started: initiator {Initiator}, responder {Responder}", EventName = "SessionStarted")]
    public static partial void SessionStarted(ILogger logger, EndPoint? initiator, EndPoint? responder);

    [LoggerMessage(1021, LogLevel.Information, "Session ended ({End}): {FromInitiator} bytes from initiator, {FromResponder} bytes from responder", EventName = "SessionEnded")]
    public static partial void SessionEnded(ILogger logger, string end, long fromInitiator, long fromResponder);

    [LoggerMessage(1022, LogLevel.Information, "Session truncated: {ToInitiator} bytes for initiator {Initiator} and {ToResponder} bytes for responder {Responder} were not acknowledged within {Linger}; closed with a reset", EventName = "SessionTruncated")]
    public static partial void SessionTruncated(ILogger logger, EndPoint? initiator, long toInitiator, EndPoint? responder, long toResponder, TimeSpan linger);

    [LoggerMessage(1030, LogLevel.Debug, "Rendezvous connection from {Remote} failed", EventName = "ConnectionFailed")]
    public static partial void ConnectionFailed(ILogger logger, EndPoint? remote, Exception exception);
}
