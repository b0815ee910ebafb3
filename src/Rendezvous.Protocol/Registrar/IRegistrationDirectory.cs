namespace Rendezvous.Protocol.Registrar;

/// <summary>
/// Where registrations are recorded and where their hidden servers park: the registrar asks it to register a UUID
/// (after the policy agreed) and to look one up, and the relay asks it about a cookie its broker does not hold. On one
/// node (<see cref="LocalRegistrationDirectory"/>, the default) that is the node's own <see cref="Broker.RendezvousBroker"/>;
/// in a cluster it is a directory shared by every node, which tells a hidden server which node to park at and makes a
/// registration issued by one node current on the node that relays it. Register an implementation with one line of DI
/// registration to replace the default.
/// </summary>
public interface IRegistrationDirectory
{
    /// <summary>
    /// Issues a fresh registration for <paramref name="uuid"/>, whose previous one stops being current everywhere
    /// (its parked connections are closed; sessions already spliced go on).
    /// </summary>
    /// <param name="uuid">The UUID, in canonical form; the policy has accepted the caller.</param>
    /// <param name="cancellationToken">Cancelled when the caller goes away.</param>
    /// <returns>The <c>R</c> value (without its mode letter) and where the hidden server parks.</returns>
    /// <exception cref="RegistrationDirectoryUnavailableException">The directory cannot be reached; the registrar answers 503.</exception>
    ValueTask<DirectoryEntry> RegisterAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>Looks <paramref name="uuid"/> up.</summary>
    /// <param name="uuid">The UUID, in canonical form when it is a UUID.</param>
    /// <param name="cancellationToken">Cancelled when the caller goes away.</param>
    /// <returns>The <c>I</c> value (without its mode letter) and where to connect; <see langword="null"/> when the UUID has no current registration.</returns>
    /// <exception cref="RegistrationDirectoryUnavailableException">The directory cannot be reached; the registrar answers 503.</exception>
    ValueTask<DirectoryEntry?> LookupAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>Forgets <paramref name="uuid"/>'s registration everywhere (its entry was removed), closing its parked connections.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether it was registered.</returns>
    /// <exception cref="RegistrationDirectoryUnavailableException">The directory cannot be reached.</exception>
    ValueTask<bool> UnregisterAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>
    /// Called by the relay when a handshake names an <c>I</c> value (an <c>R</c> line's cookie is passed through
    /// <see cref="RendezvousCookies.InitiatorValueFor"/> first) that this node's broker does not hold: makes the
    /// registration it belongs to current in the broker (<see cref="Broker.RendezvousBroker.Adopt"/>) when this node is
    /// one where that registration parks.
    /// </summary>
    /// <param name="initiatorCookie">The <c>I</c> value.</param>
    /// <param name="cancellationToken">Cancelled when the connection goes away or the server stops.</param>
    /// <returns>Whether the broker holds the registration now; <see langword="false"/> also when the directory cannot be reached.</returns>
    ValueTask<bool> TryAdoptAsync(string initiatorCookie, CancellationToken cancellationToken = default);
}
