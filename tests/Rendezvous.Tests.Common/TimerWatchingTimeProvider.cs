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
        var watched = new WatchedTimer(dueTime == Timeout.InfiniteTimeSpan ? null : GetUtcNow() + dueTime);
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
        return timer;
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

        internal WatchedTimer(DateTimeOffset? due) => Due = due;

        /// <summary>The fake moment it was due when created; <see langword="null"/> when created disarmed.</summary>
        public DateTimeOffset? Due { get; }

        /// <summary>Whether its callback ran.</summary>
        public bool Fired => Volatile.Read(ref _fired) != 0;

        internal void MarkFired() => Volatile.Write(ref _fired, 1);
    }
}
