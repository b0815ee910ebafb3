using System.Net;
using Microsoft.Extensions.Logging;

namespace Rendezvous.Server.Admin;

/// <summary>The admin page's log messages. Tokens and secrets are never logged.</summary>
internal static partial class AdminLog
{
    [LoggerMessage(5001, LogLevel.Information, "Admin page listening on {Url}; sign in with the token in {TokenFile}", EventName = "AdminListening")]
    public static partial void Listening(ILogger logger, string url, string tokenFile);

    [LoggerMessage(5002, LogLevel.Information, "Admin page listening on {Url}; sign in with the configured Rendezvous:Admin:Token", EventName = "AdminListeningConfiguredToken")]
    public static partial void ListeningWithConfiguredToken(ILogger logger, string url);

    [LoggerMessage(5003, LogLevel.Warning, "Generated a random admin token in {TokenFile} (mode 0600)", EventName = "AdminTokenGenerated")]
    public static partial void TokenGenerated(ILogger logger, string tokenFile);

    [LoggerMessage(5005, LogLevel.Warning, "The admin token file {TokenFile} could be read by other users; its mode is now 0600", EventName = "AdminTokenFileNarrowed")]
    public static partial void TokenFileNarrowed(ILogger logger, string tokenFile);

    [LoggerMessage(5004, LogLevel.Warning, "The admin page listens on {Url}, which is not loopback (Rendezvous:Admin:AllowRemote=true)", EventName = "AdminRemote")]
    public static partial void ListeningRemotely(ILogger logger, string url);

    [LoggerMessage(5010, LogLevel.Information, "Admin signed in from {Remote}", EventName = "AdminSignedIn")]
    public static partial void SignedIn(ILogger logger, IPAddress? remote);

    [LoggerMessage(5011, LogLevel.Debug, "Admin sign-in from {Remote} refused: {Reason}", EventName = "AdminSignInRefused")]
    public static partial void SignInRefused(ILogger logger, IPAddress? remote, string reason);

    [LoggerMessage(5012, LogLevel.Information, "Admin signed out from {Remote}", EventName = "AdminSignedOut")]
    public static partial void SignedOut(ILogger logger, IPAddress? remote);

    [LoggerMessage(5020, LogLevel.Information, "Admin created the entry {Uuid} ({Summary})", EventName = "AdminEntryCreated")]
    public static partial void EntryCreated(ILogger logger, string uuid, string summary);

    [LoggerMessage(5021, LogLevel.Information, "Admin rotated the secret of {Uuid}", EventName = "AdminSecretRotated")]
    public static partial void SecretRotated(ILogger logger, string uuid);

    [LoggerMessage(5022, LogLevel.Information, "Admin deleted the entry {Uuid} (secret removed: {Removed}, registration dropped: {Unregistered})", EventName = "AdminEntryDeleted")]
    public static partial void EntryDeleted(ILogger logger, string uuid, bool removed, bool unregistered);

    [LoggerMessage(5030, LogLevel.Error, "An admin request failed", EventName = "AdminRequestFailed")]
    public static partial void RequestFailed(ILogger logger, Exception exception);

    [LoggerMessage(5031, LogLevel.Debug, "The admin request for {Path} was answered 503: the secrets database is failing ({Reason})", EventName = "AdminStoreUnavailable")]
    public static partial void StoreUnavailable(ILogger logger, string path, string reason);
}
