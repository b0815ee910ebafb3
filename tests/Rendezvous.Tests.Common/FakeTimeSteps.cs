using Microsoft.Extensions.Time.Testing;

namespace Rendezvous.Tests.Common;

/// <summary>Moving a fake clock until something that waits on it happens.</summary>
public static class FakeTimeSteps
{
    /// <summary>
    /// Advances <paramref name="time"/> by <paramref name="step"/> until <paramref name="task"/> completes, and
    /// returns how far the clock was moved. Code under test creates its timers when it gets to them, so advancing
    /// in steps (rather than once) cannot miss a timer created late; the total is a lower bound check.
    /// </summary>
    public static async Task<TimeSpan> AdvanceUntilAsync(this FakeTimeProvider time, Task task, TimeSpan step, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(task);
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Short);
        var advanced = TimeSpan.Zero;
        while (!task.IsCompleted)
        {
            cts.Token.ThrowIfCancellationRequested();
            time.Advance(step);
            advanced += step;
            await Task.WhenAny(task, Task.Delay(TimeSpan.FromMilliseconds(20), cts.Token));
        }

        await task;
        return advanced;
    }
}
