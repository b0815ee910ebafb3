namespace Rendezvous.Protocol.Transport;

/// <summary>
/// The end of a session for both transports: reading the kernel's send queue of a connection until its peer has
/// acknowledged everything, at once and then at growing intervals (5 ms doubling to 250 ms), on a
/// <see cref="TimeProvider"/>. One system call per look, nothing per byte.
/// </summary>
internal static class DeliveryPoll
{
    /// <summary>The first wait between two looks at the send queue; each next wait doubles, up to <see cref="LastPause"/>.</summary>
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(5);

    private static readonly TimeSpan LastPause = TimeSpan.FromMilliseconds(250);

    /// <summary>Waits until <paramref name="unacknowledged"/> says 0 (or cannot tell), the time runs out or the connection failed.</summary>
    /// <typeparam name="TConnection">The connection's type.</typeparam>
    /// <param name="connection">The connection, passed to the two functions (so that they can be static: nothing allocated).</param>
    /// <param name="unacknowledged">Bytes sent but not acknowledged, or <see langword="null"/> when that cannot be told.</param>
    /// <param name="hasFailed">Whether the connection is gone (a reset): its queue will never drain.</param>
    /// <param name="timeout">How long to wait in all, counted from <paramref name="started"/>.</param>
    /// <param name="timeProvider">The clock of the timeout and the pauses.</param>
    /// <param name="started">When the wait started (a timestamp of <paramref name="timeProvider"/>).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>0 once everything was acknowledged; otherwise how many bytes were left.</returns>
    internal static async ValueTask<long> WaitAsync<TConnection>(
        TConnection connection,
        Func<TConnection, long?> unacknowledged,
        Func<TConnection, bool> hasFailed,
        TimeSpan timeout,
        TimeProvider timeProvider,
        long started,
        CancellationToken cancellationToken)
    {
        var pause = FirstPause;
        while (true)
        {
            var left = unacknowledged(connection);
            if (left is null or 0)
            {
                return 0;
            }

            // A reset by the peer leaves the queue as it was: it will never be acknowledged.
            var remaining = timeout - timeProvider.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero || hasFailed(connection))
            {
                return left.Value;
            }

            await Task.Delay(pause < remaining ? pause : remaining, timeProvider, cancellationToken).ConfigureAwait(false);
            pause = pause * 2 < LastPause ? pause * 2 : LastPause;
        }
    }
}
