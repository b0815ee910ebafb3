using Microsoft.Extensions.Logging;

namespace Rendezvous.Security.Internal;

/// <summary>Log messages of the security layer: UUIDs and outcomes only, never secrets or codes.</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 2001, EventName = "RegistrationAccepted", Level = LogLevel.Debug,
        Message = "Registration for {Uuid} accepted")]
    public static partial void RegistrationAccepted(ILogger logger, string uuid);

    [LoggerMessage(EventId = 2002, EventName = "RegistrationRejected", Level = LogLevel.Debug,
        Message = "Registration for {Uuid} rejected")]
    public static partial void RegistrationRejected(ILogger logger, string uuid);

    [LoggerMessage(EventId = 2003, EventName = "RegistrationThrottled", Level = LogLevel.Debug,
        Message = "Registration for {Uuid} throttled for {RetryAfter}")]
    public static partial void RegistrationThrottled(ILogger logger, string uuid, TimeSpan retryAfter);

    [LoggerMessage(EventId = 2004, EventName = "RegistrationReplayed", Level = LogLevel.Debug,
        Message = "Registration for {Uuid} rejected: the code of an already accepted time step (a replay, not counted as a failure)")]
    public static partial void RegistrationReplayed(ILogger logger, string uuid);

    [LoggerMessage(EventId = 2005, EventName = "SecretStoreFailing", Level = LogLevel.Error,
        Message = "The secrets database {Path} is failing: {Reason} Registrations are answered 503 (service unavailable, retry later) until it works again; lookups and relaying go on")]
    public static partial void SecretStoreFailing(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 2006, EventName = "SecretStoreRecovered", Level = LogLevel.Information,
        Message = "The secrets database {Path} works again")]
    public static partial void SecretStoreRecovered(ILogger logger, string path);

    [LoggerMessage(EventId = 2007, EventName = "RegistrationStoreFailed", Level = LogLevel.Debug,
        Message = "Registration for {Uuid} answered unavailable: the secret store or a failure counter failed ({ExceptionType}); not counted as a failed attempt")]
    public static partial void RegistrationStoreFailed(ILogger logger, string uuid, string exceptionType);

    [LoggerMessage(EventId = 2008, EventName = "SecretStoreReplaced", Level = LogLevel.Warning,
        Message = "The secrets database {Path} was replaced by another file while in use; the file now at that path is used")]
    public static partial void SecretStoreReplaced(ILogger logger, string path);

    [LoggerMessage(EventId = 2009, EventName = "FailureCounterUpdateFailed", Level = LogLevel.Debug,
        Message = "A failure counter could not be updated after a registration was decided ({ExceptionType}); the decision stands")]
    public static partial void FailureCounterUpdateFailed(ILogger logger, string exceptionType);
}
