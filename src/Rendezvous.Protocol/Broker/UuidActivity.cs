namespace Rendezvous.Protocol.Broker;

/// <summary>What the relay knows of one UUID now, and what happened to it since the service started.</summary>
/// <param name="Uuid">The UUID, in the form it registered with (canonical for real UUIDs).</param>
/// <param name="Registered">Whether it holds a current cookie.</param>
/// <param name="Parked">Hidden-server connections parked under its cookie now.</param>
/// <param name="LiveSessions">Spliced sessions running now.</param>
/// <param name="Sessions">Sessions started since the service started.</param>
/// <param name="BytesRelayed">Bytes relayed in its sessions, both directions, since the service started (live sessions included).</param>
/// <param name="Registrations">Accepted registrations since the service started.</param>
/// <param name="LastRegistered">When it last registered, or <see langword="null"/> when it has not since the service started.</param>
/// <param name="Failures">Refused registrations (rejected or throttled) since the service started.</param>
/// <param name="LastFailure">When a registration was last refused, or <see langword="null"/>.</param>
public readonly record struct UuidActivity(
    string Uuid,
    bool Registered,
    int Parked,
    int LiveSessions,
    long Sessions,
    long BytesRelayed,
    long Registrations,
    DateTimeOffset? LastRegistered,
    long Failures,
    DateTimeOffset? LastFailure);
