using System.Text.Json.Nodes;

namespace Rendezvous.Protocol.Policy;

/// <summary>
/// The registrations a policy knows (which UUIDs may register, with what credentials), as the admin page of
/// Rendezvous.Server lists, adds, rotates and removes them. A policy that keeps such entries registers its store as this
/// interface (Rendezvous.Security's <c>AddTotpSecurity()</c> does, for its TOTP secrets); without one the admin page still
/// shows the relay's status, health and metrics, and says that the policy provides no entries store.
/// UUIDs passed in are in lower-case canonical form (see <see cref="UuidText.TryNormalize"/>).
/// </summary>
public interface IRegistrationEntryStore
{
    /// <summary>The settings a new entry is created with (for TOTP: the time step and the number of digits), in form order.</summary>
    IReadOnlyList<RegistrationEntryField> CreationFields { get; }

    /// <summary>
    /// One sentence on what creating an entry makes, shown under the creation form, e.g. "A random 160-bit secret is made".
    /// </summary>
    string CreationNote { get; }

    /// <summary>Lists all entries, oldest first.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The entries, without credentials.</returns>
    Task<IReadOnlyList<RegistrationEntry>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Looks a UUID's entry up.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The entry without credentials, or <see langword="null"/> when the UUID has none.</returns>
    Task<RegistrationEntry?> TryGetAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks the values typed for <see cref="CreationFields"/>, before <see cref="TryCreateAsync"/>.
    /// </summary>
    /// <param name="values">The typed values by <see cref="RegistrationEntryField.Name"/>; a missing one counts as empty.</param>
    /// <returns>One sentence per bad value, naming it and what is accepted; empty when all are acceptable.</returns>
    IReadOnlyList<string> Validate(IReadOnlyDictionary<string, string> values);

    /// <summary>Creates an entry for <paramref name="uuid"/> with new credentials (for TOTP: a random secret).</summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="values">Values that <see cref="Validate"/> accepted, by <see cref="RegistrationEntryField.Name"/>.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The new entry, or <see langword="null"/> when the UUID has an entry already.</returns>
    /// <exception cref="ArgumentException">A value is not acceptable (see <see cref="Validate"/>).</exception>
    Task<RegistrationEntry?> TryCreateAsync(string uuid, IReadOnlyDictionary<string, string> values, CancellationToken cancellationToken = default);

    /// <summary>Gives an entry new credentials; the old ones stop working at once.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when rotated; <see langword="false"/> when the UUID has no entry.</returns>
    Task<bool> RotateAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>Removes an entry, so the UUID can no longer register.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when an entry was removed; <see langword="false"/> when there was none.</returns>
    Task<bool> RemoveAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>
    /// The settings a hidden server needs to register as <paramref name="uuid"/>, as the properties its config file
    /// carries besides the registrar's URL, the UUID and the registrar's certificate (for TOTP: <c>secret</c>,
    /// <c>step</c> and <c>digits</c>). They hold the credentials: only the admin page, behind its sign-in, shows them.
    /// </summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>
    /// A new object the caller may change, or <see langword="null"/> when the UUID has no entry or the store cannot give its
    /// credentials back (one that keeps only a hash of them).
    /// </returns>
    Task<JsonObject?> TryGetClientSettingsAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>Checks now whether the store can be used, for <c>/healthz</c>.</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns><see langword="null"/> when it works; otherwise why not, in words that hold no secret.</returns>
    Task<string?> CheckHealthAsync(CancellationToken cancellationToken = default);
}
