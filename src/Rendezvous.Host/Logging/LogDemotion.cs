using Microsoft.Extensions.Logging;

namespace Rendezvous.Host.Logging;

/// <summary>
/// Records of one category (and, when given, one event) at or below <paramref name="UpTo"/> that are logged at
/// <see cref="LogLevel.Debug"/> instead: detail that repeats what a clearer message already says.
/// </summary>
/// <param name="Category">The exact logger category.</param>
/// <param name="UpTo">The highest level demoted.</param>
/// <param name="EventId">The event demoted, or <see langword="null"/> for every event of the category.</param>
internal sealed record LogDemotion(string Category, LogLevel UpTo, int? EventId = null)
{
    /// <summary>
    /// The generic host's "Hosting failed to start" record (an Error with the stack trace). <c>serve</c> prints
    /// the failure as one line on standard error; the record shows at Debug only.
    /// </summary>
    public static readonly LogDemotion HostStartFailure = new("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Error, 11);

    /// <summary>Whether a record of <paramref name="level"/> and <paramref name="eventId"/> is demoted.</summary>
    public bool Matches(LogLevel level, EventId eventId) =>
        level > LogLevel.Debug && level <= UpTo && (EventId is not { } id || id == eventId.Id);
}
