namespace Rendezvous.Protocol.Policy;

/// <summary>
/// Counts failures per key in fixed windows that start at a key's first failure; a key with the counter's limit of
/// failures in its window is throttled until the window ends. <see cref="FailureThrottle"/> keeps the counts in this
/// process; a cluster keeps them in its shared store, so that spreading attempts over nodes gains nothing. Checking and
/// counting are one step (<see cref="TryReserveAsync"/>), so however many attempts run at once, on however many nodes,
/// at most the limit of them pass in a window; an attempt that turns out not to be a failure gives its slot back.
/// </summary>
public interface IFailureCounter
{
    /// <summary>
    /// Counts one failure for <paramref name="key"/> in advance, unless the key is throttled: then nothing is counted
    /// and the slot says for how long (at least one second).
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The slot: reserved, or the wait.</returns>
    ValueTask<FailureSlot> TryReserveAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives back a failure counted by <see cref="TryReserveAsync"/> (the attempt was not a failure). Does nothing for a
    /// slot that was not reserved, or once the slot's window has ended (a later window is never touched).
    /// </summary>
    /// <param name="slot">What <see cref="TryReserveAsync"/> counted.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the slot is given back.</returns>
    ValueTask ReleaseAsync(FailureSlot slot, CancellationToken cancellationToken = default);

    /// <summary>Counts one failure for <paramref name="key"/>, throttled or not.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the failure is counted.</returns>
    ValueTask RecordFailureAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Forgets <paramref name="key"/>'s failures.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the key is forgotten.</returns>
    ValueTask ClearAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>How long <paramref name="key"/> stays throttled (at least one second), or zero when it is not.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The wait, or <see cref="TimeSpan.Zero"/>.</returns>
    ValueTask<TimeSpan> GetRetryAfterAsync(string key, CancellationToken cancellationToken = default);
}

/// <summary>Creates the failure counters a policy needs, each with its own limit and window.</summary>
public interface IFailureCounterFactory
{
    /// <summary>Creates a counter.</summary>
    /// <param name="name">What the counter counts (<c>uuid</c>, <c>address</c>, ...): counters of one name share their counts, across nodes where the store is shared.</param>
    /// <param name="limit">Failures in one window after which a key is throttled; at least 1.</param>
    /// <param name="window">How long failures are counted from a key's first one; positive.</param>
    /// <param name="maxKeys">How many keys an in-process counter tracks at most; at least 1. A shared store bounds its keys by their expiry instead.</param>
    /// <returns>The counter.</returns>
    IFailureCounter Create(string name, int limit, TimeSpan window, int maxKeys);
}

/// <summary>What <see cref="IFailureCounter.TryReserveAsync"/> answered.</summary>
/// <param name="Key">The key.</param>
/// <param name="IsReserved">Whether a failure was counted in advance (the attempt may go on).</param>
/// <param name="RetryAfter">When not reserved, how long the key stays throttled; zero otherwise.</param>
/// <param name="Window">Which window the failure was counted in (the counter's own token); 0 when not reserved.</param>
public readonly record struct FailureSlot(string Key, bool IsReserved, TimeSpan RetryAfter, long Window);
