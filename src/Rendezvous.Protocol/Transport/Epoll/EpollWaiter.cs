using System.Threading.Tasks.Sources;

namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>
/// One waiter of the epoll transport (a read, a flush, an accept): the value task source core, the cancellation token
/// and its registration. Its owner guards it with its lock, and completes it only after releasing that lock, so a
/// continuation that runs inline never runs under it. Kept in a field of the owner (a mutable struct: no object of its own).
/// </summary>
internal struct EpollWaiter
{
    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;
    private CancellationToken _token;
    private bool _canceled;

    /// <summary>Whether a wait is pending. Under the owner's lock.</summary>
    internal bool IsWaiting { get; private set; }

    /// <summary>Starts a wait. Under the owner's lock.</summary>
    /// <returns>The token of the wait, for the value task.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    internal short Begin(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _core.Reset();
        IsWaiting = true;
        _token = cancellationToken;
        _canceled = false;
        return _core.Version;
    }

    /// <summary>After <see cref="Begin"/>, outside the lock: makes cancelling the token call <paramref name="onCanceled"/> with <paramref name="owner"/>.</summary>
    internal void Register(Action<object?> onCanceled, object owner)
    {
        if (_token.CanBeCanceled)
        {
            _registration = _token.UnsafeRegister(onCanceled, owner);
        }
    }

    /// <summary>Ends a pending wait so that it can be completed. Under the owner's lock.</summary>
    /// <param name="canceled">Whether its token was cancelled (its result then throws).</param>
    /// <returns>Whether a wait was pending: then call <see cref="Complete"/> once the lock is released.</returns>
    internal bool Take(bool canceled = false)
    {
        if (!IsWaiting)
        {
            return false;
        }

        IsWaiting = false;
        _canceled = canceled;
        return true;
    }

    /// <summary>Completes the wait that <see cref="Take"/> ended; outside the owner's lock (the continuation may run inline).</summary>
    internal void Complete() => _core.SetResult(true);

    /// <summary>Called by the value task's <c>GetResult</c>, outside the lock: ends the wait's registration.</summary>
    internal void End(short token)
    {
        _core.GetResult(token);
        _registration.Dispose();
        _registration = default;
    }

    /// <summary>Throws when the wait ended because its token was cancelled. Under the owner's lock.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled.</exception>
    internal void ThrowIfCanceled()
    {
        if (_canceled)
        {
            _canceled = false;
            throw new OperationCanceledException(_token);
        }
    }

    /// <summary>The state of the wait with <paramref name="token"/>.</summary>
    internal ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    /// <summary>Schedules the continuation of the wait with <paramref name="token"/>.</summary>
    internal void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
