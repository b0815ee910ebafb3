using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that records every timer created on it (a <c>Task.Delay</c>, a timed cancellation)
/// with the fake moment it is due, so that a test can wait for the code under test to have armed its timer (a signal
/// that it reached its waiting point) instead of sleeping, and can tell whether that timer fired. A fake timer fires
/// only when the clock is moved to or past its due moment, so "nothing happened before the due moment" is proven by
/// the timer being armed and not fired, without waiting any real time.
/// </summary>
public sealed class TimerWatchingTimeProvider : FakeTimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<WatchedTimer> _timers = [];
    private TaskCompletionSource _created = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates a fake clock at <paramref name="start"/>.</summary>
    /// <param name="start">The starting moment.</param>
    public TimerWatchingTimeProvider(DateTimeOffset start)
        : base(start)
    {
    }

    /// <inheritdoc />
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var watched = new WatchedTimer(dueTime == Timeout.InfiniteTimeSpan ? null : GetUtcNow() + dueTime, dueTime == Timeout.InfiniteTimeSpan ? null : dueTime);
        var timer = base.CreateTimer(
            s =>
            {
                watched.MarkFired();
                callback(s);
            },
            state,
            dueTime,
            period);
        TaskCompletionSource created;
        lock (_lock)
        {
            _timers.Add(watched);
            created = _created;
            _created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        created.TrySetResult();
        return new DisposalWatchingTimer(timer, watched, this);
    }

    /// <summary>Every timer created so far, in the order they were created.</summary>
    public IReadOnlyList<WatchedTimer> Timers
    {
        get
        {
            lock (_lock)
            {
                return [.. _timers];
            }
        }
    }

    /// <summary>
    /// Waits until a timer due at <paramref name="due"/> has been created (or was before); fails the test after
    /// <see cref="TestTimeouts.Short"/> of real time. <c>Task.Delay</c> passes whole milliseconds to the timer, so a timer
    /// due up to 1 ms before <paramref name="due"/> is the one.
    /// </summary>
    /// <param name="due">The fake moment the awaited timer is due.</param>
    /// <param name="what">What the timer is, for the failure message.</param>
    /// <returns>The timer.</returns>
    public async Task<WatchedTimer> WaitForTimerDueAtAsync(DateTimeOffset due, string what)
    {
        using var deadline = new CancellationTokenSource(TestTimeouts.Short);
        while (true)
        {
            Task created;
            lock (_lock)
            {
                if (_timers.LastOrDefault(t => t.Due is { } at && at <= due && due - at < TimeSpan.FromMilliseconds(1)) is { } found)
                {
                    return found;
                }

                created = _created.Task;
            }

            try
            {
                await created.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"Timed out waiting for {what} (a timer due at {due:O}; due times armed: {string.Join(", ", DueTimes())}).");
            }
        }
    }

    private List<string> DueTimes()
    {
        lock (_lock)
        {
            return [.. _timers.Select(t => t.Due?.ToString("O") ?? "never")];
        }
    }

    /// <summary>A timer created on a <see cref="TimerWatchingTimeProvider"/>.</summary>
    public sealed class WatchedTimer
    {
        private int _fired;
        private int _disposed;

        private readonly Lock _gate = new();
        private (DateTimeOffset? Due, TimeSpan? Length) _armed;

        internal WatchedTimer(DateTimeOffset? due, TimeSpan? length) => _armed = (due, length);

        /// <summary>The fake moment it is due (as created, or as last re-armed); <see langword="null"/> when disarmed.</summary>
        public DateTimeOffset? Due
        {
            get
            {
                lock (_gate)
                {
                    return _armed.Due;
                }
            }
        }

        /// <summary>How long after it was armed it is due (the delay or timeout it stands for); <see langword="null"/> when disarmed.</summary>
        public TimeSpan? Length
        {
            get
            {
                lock (_gate)
                {
                    return _armed.Length;
                }
            }
        }

        /// <summary>Whether its callback ran.</summary>
        public bool Fired => Volatile.Read(ref _fired) != 0;

        /// <summary>Whether it was disposed (a cancelled delay, a disposed timed cancellation).</summary>
        public bool Disposed => Volatile.Read(ref _disposed) != 0;

        /// <summary>Whether it is still armed: due at a moment, neither fired nor disposed.</summary>
        public bool Pending => Due is not null && !Fired && !Disposed;

        internal void MarkFired() => Volatile.Write(ref _fired, 1);

        internal void MarkDisposed() => Volatile.Write(ref _disposed, 1);

        internal void Rearm(DateTimeOffset? due, TimeSpan? length)
        {
            lock (_gate)
            {
                _armed = (due, length);
                Volatile.Write(ref _fired, 0);
            }
        }
    }

    /// <summary>The fake clock's timer, telling its <see cref="WatchedTimer"/> when it is re-armed or disposed.</summary>
    private sealed class DisposalWatchingTimer(ITimer inner, WatchedTimer watched, TimeProvider time) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            watched.Rearm(dueTime == Timeout.InfiniteTimeSpan ? null : time.GetUtcNow() + dueTime, dueTime == Timeout.InfiniteTimeSpan ? null : dueTime);
            return inner.Change(dueTime, period);
        }

        public void Dispose()
        {
            watched.MarkDisposed();
            inner.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            watched.MarkDisposed();
            return inner.DisposeAsync();
        }
    }
}
