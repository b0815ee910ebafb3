namespace Rendezvous.Security;

/// <summary>
/// Where the shared TOTP secrets live, and the per-UUID record of the last accepted time step
/// that makes codes single-use. <see cref="SqliteSecretStore"/> is the default; derive from this
/// class to keep secrets elsewhere (for example a store shared by a cluster).
/// </summary>
public abstract class SecretStore
{
    /// <summary>Adds a secret.</summary>
    /// <param name="entry">The entry; its UUID must be canonical, its step, digits and secret length in range.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>A task that completes when the entry is stored.</returns>
    /// <exception cref="DuplicateSecretException">The UUID already has a secret.</exception>
    /// <exception cref="ArgumentException">The entry is out of range.</exception>
    public abstract Task AddAsync(SecretEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Looks a UUID's secret up.</summary>
    /// <param name="uuid">The UUID, in any accepted textual form.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The entry, or <see langword="null"/> when the UUID has none (or is not a UUID).</returns>
    public abstract Task<SecretEntry?> TryGetAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>Lists all entries, oldest first.</summary>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The entries ordered by creation time.</returns>
    public abstract Task<IReadOnlyList<SecretEntry>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes a UUID's secret.</summary>
    /// <param name="uuid">The UUID, in any accepted textual form.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when an entry was removed; <see langword="false"/> when there was none.</returns>
    public abstract Task<bool> RemoveAsync(string uuid, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives a UUID a new shared secret (rotation), keeping its step, digits and creation time. Codes made
    /// with the old secret stop working at once; the record of the last accepted step is kept, so no code
    /// of an earlier step is ever accepted.
    /// </summary>
    /// <param name="uuid">The UUID, in any accepted textual form.</param>
    /// <param name="secret">The new raw secret; at least <see cref="SecretFormat.MinimumSecretBytes"/> bytes.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when the secret was replaced; <see langword="false"/> when the UUID has no entry.</returns>
    /// <exception cref="ArgumentException">The secret is too short.</exception>
    public abstract Task<bool> ReplaceSecretAsync(string uuid, byte[] secret, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records that a code of time step <paramref name="step"/> was accepted for <paramref name="uuid"/>, atomically and
    /// only if that step is later than every step accepted before. Concurrent callers with the same step: exactly one wins.
    /// </summary>
    /// <param name="uuid">The UUID, in any accepted textual form.</param>
    /// <param name="step">The time step (Unix time divided by the entry's step) the code belongs to.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns><see langword="true"/> when the step was recorded; <see langword="false"/> for a replayed or older step or an unknown UUID.</returns>
    public abstract Task<bool> TryAdvanceLastStepAsync(string uuid, long step, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks now whether the store can be used, for a health check. The default says it can; a store that can fail
    /// while in use (a file removed or damaged, a server gone) overrides it.
    /// </summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns><see langword="null"/> when the store works; otherwise why it does not, in words that hold no secret.</returns>
    public virtual Task<string?> CheckHealthAsync(CancellationToken cancellationToken = default) => Task.FromResult<string?>(null);
}
