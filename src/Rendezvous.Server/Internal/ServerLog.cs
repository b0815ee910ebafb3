using System.Net;
using Microsoft.Extensions.Logging;

namespace Rendezvous.Server.Internal;

/// <summary>The hosting layer's log messages.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(3001, LogLevel.Information, "Rendezvous relay listening on {EndPoint} ({Transport} transport)", EventName = "RelayListening")]
    public static partial void RelayListening(ILogger logger, EndPoint endPoint, string transport);

    [LoggerMessage(3002, LogLevel.Information, "Registrar listening on {Url}", EventName = "RegistrarListening")]
    public static partial void RegistrarListening(ILogger logger, string url);

    [LoggerMessage(3003, LogLevel.Warning, "Registrar certificate SHA-256 fingerprint {Fingerprint} ({Path}); clients pin it", EventName = "CertificateFingerprint")]
    public static partial void CertificateFingerprint(ILogger logger, string fingerprint, string path);

    [LoggerMessage(3004, LogLevel.Warning, "Generated a self-signed registrar certificate at {Path}", EventName = "CertificateGenerated")]
    public static partial void CertificateGenerated(ILogger logger, string path);

    [LoggerMessage(3010, LogLevel.Information, "Stopping: {Sessions} connections still open, draining for up to {Drain}", EventName = "Draining")]
    public static partial void Draining(ILogger logger, int sessions, TimeSpan drain);

    [LoggerMessage(3011, LogLevel.Warning, "Drain time over: closing {Sessions} connections", EventName = "DrainTimedOut")]
    public static partial void DrainTimedOut(ILogger logger, int sessions);

    [LoggerMessage(3005, LogLevel.Warning, "{Message}", EventName = "ConnectionCapsLowered")]
    public static partial void CapsLowered(ILogger logger, string message);

    [LoggerMessage(3020, LogLevel.Error, "Accepting rendezvous connections failed ({Error}): {Failures} failed accepts since the last report, at most one a {Retry}; retrying until descriptors free up", EventName = "AcceptFailed")]
    public static partial void AcceptFailed(ILogger logger, string error, int failures, TimeSpan retry);

    [LoggerMessage(3021, LogLevel.Error, "A rendezvous connection failed unexpectedly", EventName = "ConnectionCrashed")]
    public static partial void ConnectionCrashed(ILogger logger, Exception exception);

    [LoggerMessage(3024, LogLevel.Critical, "The relay's accept loop failed: no new rendezvous connections are accepted until the server restarts", EventName = "AcceptLoopFailed")]
    public static partial void AcceptLoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(3022, LogLevel.Debug, "Rendezvous connection refused: {MaxConnections} connections are open (Rendezvous:Relay:MaxConnections)", EventName = "ConnectionRefusedOverCap")]
    public static partial void ConnectionRefusedOverCap(ILogger logger, int maxConnections);

    [LoggerMessage(3023, LogLevel.Debug, "Registrar connection from {Remote} refused: that address already holds {Limit} connections (Rendezvous:RegistrarMaxConnectionsPerAddress)", EventName = "RegistrarConnectionRefusedPerAddress")]
    public static partial void RegistrarConnectionRefusedPerAddress(ILogger logger, IPAddress remote, int limit);

    [LoggerMessage(3030, LogLevel.Warning, "Registrar request failed", EventName = "RegistrarRequestFailed")]
    public static partial void RegistrarRequestFailed(ILogger logger, Exception exception);

    [LoggerMessage(3031, LogLevel.Debug, "Registrar request from {Remote} was malformed: {Reason}", EventName = "RegistrarBadRequest")]
    public static partial void RegistrarBadRequest(ILogger logger, IPAddress? remote, string reason);

    [LoggerMessage(3040, LogLevel.Debug, "Memory trimmed after {Closed} connections closed: managed heap {Before} -> {After} bytes", EventName = "MemoryTrimmed")]
    public static partial void MemoryTrimmed(ILogger logger, long closed, long before, long after);
}
