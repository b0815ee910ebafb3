namespace Rendezvous.Client.Sessions;

/// <summary>Serves the sessions a hidden server is paired into; registered with <c>AddRendezvousHiddenServer&lt;THandler&gt;()</c>.</summary>
public interface IRendezvousSessionHandler
{
    /// <summary>Serves one session; it is closed when this returns.</summary>
    /// <param name="session">The session, authenticated when an authenticator is configured.</param>
    /// <param name="cancellationToken">Cancelled when the agent stops.</param>
    /// <returns>A task that completes when the session is done.</returns>
    Task HandleAsync(RendezvousSession session, CancellationToken cancellationToken);
}
