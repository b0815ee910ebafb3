namespace Rendezvous.Protocol.Policy;

/// <summary>
/// Decides whether a caller may register for a UUID. The protocol asks it on every
/// <c>PUT /?uuid=...&amp;response=...</c>; the default implementation (Rendezvous.Security)
/// checks an RFC 6238 TOTP code against a stored secret, refuses replays and throttles failures.
/// Replace it with one line of DI registration to use another policy.
/// </summary>
public interface IRegistrationPolicy
{
    /// <summary>Decides on one registration attempt.</summary>
    /// <param name="request">The UUID, the code the caller sent and where it came from.</param>
    /// <param name="cancellationToken">Cancels the decision when the request is aborted.</param>
    /// <returns>Whether the registration is accepted, refused or throttled.</returns>
    ValueTask<RegistrationDecision> AuthorizeAsync(RegistrationRequest request, CancellationToken cancellationToken = default);
}
