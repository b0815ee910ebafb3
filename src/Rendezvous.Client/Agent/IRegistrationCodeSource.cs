namespace Rendezvous.Client.Agent;

/// <summary>
/// Where a <see cref="HiddenServerAgent"/> gets the response (the <c>response</c> field of the registration) it
/// sends to register, and whom it tells how the registrar answered. The default,
/// <see cref="TotpRegistrationCodeSource"/>, computes TOTP codes from the shared secret, for the registrar's
/// default TOTP policy; implement this to register with a registrar that runs another
/// <c>IRegistrationPolicy</c>, and set it as <see cref="HiddenServerAgentOptions.CodeSource"/> (or register it
/// in DI).
/// </summary>
/// <remarks>
/// <para>
/// The agent calls one method at a time, for its own UUID. Per attempt it calls
/// <see cref="GetCodeAsync"/>, sends the code, and then calls <see cref="OnAccepted"/> when the registrar
/// accepted it or <see cref="OnRefused"/> when the registrar checked it and refused it (a wrong or replayed
/// code, an unknown UUID). When the request did not reach the registrar or was not checked (unreachable,
/// timed out, throttled) it calls neither: the code was not spent and may be sent again.
/// </para>
/// <para>
/// The agent also registers again after the relay forgot it (a restart) with a new <see cref="GetCodeAsync"/>.
/// After <see cref="HiddenServerAgent.RefusalsBeforeBackoff"/> refusals in a row it waits minutes between
/// attempts whatever <see cref="OnRefused"/> returns. Never log codes.
/// </para>
/// </remarks>
public interface IRegistrationCodeSource
{
    /// <summary>
    /// Returns the code to send for the next registration attempt, waiting first when no code may be sent yet
    /// (e.g. until a new time step begins after a refusal).
    /// </summary>
    /// <param name="uuid">The agent's UUID, normalized (lower case, with hyphens).</param>
    /// <param name="cancellationToken">Cancelled when the agent stops.</param>
    /// <returns>The code; it must not be empty.</returns>
    ValueTask<string> GetCodeAsync(string uuid, CancellationToken cancellationToken);

    /// <summary>The registrar accepted <paramref name="code"/>.</summary>
    /// <param name="uuid">The agent's UUID.</param>
    /// <param name="code">The code it accepted, as <see cref="GetCodeAsync"/> returned it.</param>
    void OnAccepted(string uuid, string code);

    /// <summary>
    /// The registrar checked <paramref name="code"/> and refused it (wrong, replayed, or the UUID is unknown).
    /// </summary>
    /// <param name="uuid">The agent's UUID.</param>
    /// <param name="code">The code it refused, as <see cref="GetCodeAsync"/> returned it.</param>
    /// <returns>How long to wait before the next attempt: <see cref="TimeSpan.Zero"/> (or less) for at once, at most a day.</returns>
    TimeSpan OnRefused(string uuid, string code);
}
