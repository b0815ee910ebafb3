namespace Rendezvous.Client.Sessions;

/// <summary>
/// Authenticates a session right after <c>+OK</c>, before any application data is accepted (security
/// model point 4: the hidden server must authenticate the mobile client; the relay does not). Return
/// the stream the application should use — the same one, or one wrapping it such as an
/// <see cref="System.Net.Security.SslStream"/> — or <see langword="null"/> to reject the session.
/// </summary>
public abstract class RendezvousAuthenticator
{
    /// <summary>Authenticates the peer over <paramref name="transport"/>.</summary>
    /// <param name="transport">The raw session stream through the relay.</param>
    /// <param name="info">Who the session is with.</param>
    /// <param name="cancellationToken">Cancelled on timeout or shutdown.</param>
    /// <returns>The stream for the application, or <see langword="null"/> to reject.</returns>
    public abstract ValueTask<Stream?> AuthenticateAsync(Stream transport, RendezvousSessionInfo info, CancellationToken cancellationToken);
}
