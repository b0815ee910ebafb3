namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>The end of a session: waiting until the peer has acknowledged what was sent before the descriptor is closed.</summary>
internal sealed partial class EpollRelayConnection
{
    /// <summary>The first wait between two looks at the send queue; each next wait doubles, up to <see cref="LastDeliveryPoll"/>.</summary>
    private static readonly TimeSpan FirstDeliveryPoll = TimeSpan.FromMilliseconds(5);

    private static readonly TimeSpan LastDeliveryPoll = TimeSpan.FromMilliseconds(250);

    /// <inheritdoc />
    /// <remarks>
    /// Waits for the output to hand everything written to the kernel, then reads the kernel's send queue
    /// (<c>SIOCOUTQ</c>) until it is empty, at once and then at growing intervals (5 ms doubling to 250 ms).
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative.</exception>
    public override async ValueTask<long> WaitForDeliveryAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        var started = timeProvider.GetTimestamp();
        EpollOutput? output;
        lock (this)
        {
            output = _peer is null && _output is { Unsent: > 0, Failed: false } unsent ? unsent : null;
        }

        if (output is not null)
        {
            try
            {
                await output.SendAllAsync(cancellationToken).AsTask().WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Some of what was written has not even reached the kernel.
                return Math.Max(1, Unacknowledged() ?? 1);
            }
        }

        var pause = FirstDeliveryPoll;
        while (true)
        {
            var left = Unacknowledged();
            if (left is null or 0)
            {
                return 0;
            }

            // A reset by the peer leaves the queue as it was: it will never be acknowledged.
            var remaining = timeout - timeProvider.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero || HasFailed())
            {
                return left.Value;
            }

            await Task.Delay(pause < remaining ? pause : remaining, timeProvider, cancellationToken).ConfigureAwait(false);
            pause = pause * 2 < LastDeliveryPoll ? pause * 2 : LastDeliveryPoll;
        }
    }

    private long? Unacknowledged()
    {
        if (!TryUse())
        {
            return null;
        }

        var left = EpollNative.Unacknowledged(_fd);
        EndUse();
        return left;
    }

    private bool HasFailed()
    {
        if (!TryUse())
        {
            return true;
        }

        var failed = EpollNative.HasFailed(_fd);
        EndUse();
        return failed;
    }
}
