using Microsoft.Extensions.Logging;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Records of one category (and, when given, one event) at or below <paramref name="UpTo"/> that are logged at
/// <see cref="LogLevel.Debug"/> instead: detail that repeats what a clearer message already says.
/// </summary>
/// <param name="Category">The exact logger category.</param>
/// <param name="UpTo">The highest level demoted.</param>
/// <param name="EventId">The event demoted, or <see langword="null"/> for every event of the category.</param>
internal sealed record LogDemotion(string Category, LogLevel UpTo, int? EventId = null)
{
    /// <summary>ASP.NET Core's "Executing endpoint" / "Executed endpoint" pair, two Information lines per request.</summary>
    public static readonly LogDemotion EndpointExecution = new("Microsoft.AspNetCore.Routing.EndpointMiddleware", LogLevel.Information);

    /// <summary>
    /// The health check service's record of every check that is not healthy (an Error per <c>/healthz</c> request
    /// while, say, the secrets database fails): what fails is logged once when it starts failing, and again when it
    /// works, by the part that fails; a load balancer's polling would repeat it every few seconds.
    /// </summary>
    public static readonly LogDemotion HealthCheckResults = new("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", LogLevel.Error);

    /// <summary>Whether a record of <paramref name="level"/> and <paramref name="eventId"/> is demoted.</summary>
    public bool Matches(LogLevel level, EventId eventId) =>
        level > LogLevel.Debug && level <= UpTo && (EventId is not { } id || id == eventId.Id);
}
