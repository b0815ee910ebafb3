namespace Rendezvous.Client.Agent;

/// <summary>Where a <see cref="HiddenServerAgent"/> is.</summary>
public enum HiddenServerState
{
    /// <summary>Not started yet.</summary>
    Starting,

    /// <summary>Registering with the registrar (or waiting to retry).</summary>
    Registering,

    /// <summary>Registered; keeping connections parked.</summary>
    Registered,

    /// <summary>Another hidden server registered the same UUID; this agent stepped back and stopped.</summary>
    Superseded,

    /// <summary>Stopped on request.</summary>
    Stopped,

    /// <summary>Stopped because of an error that retrying cannot fix (see <see cref="HiddenServerStatus.LastError"/>).</summary>
    Failed,
}

/// <summary>A snapshot of a <see cref="HiddenServerAgent"/>'s state.</summary>
/// <param name="State">Where the agent is.</param>
/// <param name="Parked">Connections parked at the relay now.</param>
/// <param name="ActiveSessions">Sessions being served now.</param>
/// <param name="TotalSessions">Sessions served since start.</param>
/// <param name="Registrations">Successful registrations since start.</param>
/// <param name="LastRegistration">When the agent last registered.</param>
/// <param name="LastError">The last problem met, as a one-line message (never a secret or code).</param>
public sealed record HiddenServerStatus(
    HiddenServerState State,
    int Parked,
    int ActiveSessions,
    long TotalSessions,
    long Registrations,
    DateTimeOffset? LastRegistration,
    string? LastError)
{
    /// <summary>
    /// When the agent tries to register next, while it waits after a failed attempt (by the agent's
    /// clock); <see langword="null"/> otherwise.
    /// </summary>
    public DateTimeOffset? NextAttempt { get; init; }
}
