namespace Rendezvous.Protocol.Transport.Epoll;

/// <summary>The end of a session: waiting until the peer has acknowledged what was sent before the descriptor is closed.</summary>
internal sealed partial class EpollRelayConnection
{
    /// <inheritdoc />
    /// <remarks>
    /// Waits for the output to hand everything written to the kernel, then reads the kernel's send queue
    /// (<c>SIOCOUTQ</c>) until it is empty, at once and then at growing intervals (5 ms doubling to 250 ms).
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative.</exception>
    public override ValueTask<long> WaitForDeliveryAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken = default)
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

        // Usually everything was acknowledged already: answered without a state machine.
        return output is null && Unacknowledged() is null or 0
            ? ValueTask.FromResult(0L)
            : WaitAsync(output, timeout, timeProvider, started, cancellationToken);
    }

    private async ValueTask<long> WaitAsync(EpollOutput? output, TimeSpan timeout, TimeProvider timeProvider, long started, CancellationToken cancellationToken)
    {
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

        return await DeliveryPoll.WaitAsync(this, static connection => connection.Unacknowledged(), static connection => connection.HasFailed(), timeout, timeProvider, started, cancellationToken).ConfigureAwait(false);
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
