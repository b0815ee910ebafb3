namespace Rendezvous.Protocol.Transport;

/// <summary>The end of a session: waiting until the peer has acknowledged what was sent before the socket is closed.</summary>
public sealed partial class SocketRelayConnection
{
    /// <summary>The first wait between two looks at the send queue; each next wait doubles, up to <see cref="LastDeliveryPoll"/>.</summary>
    private static readonly TimeSpan FirstDeliveryPoll = TimeSpan.FromMilliseconds(5);

    private static readonly TimeSpan LastDeliveryPoll = TimeSpan.FromMilliseconds(250);

    /// <inheritdoc />
    /// <remarks>
    /// A pipe-spliced connection first waits for its send loop to hand everything written to <see cref="Output"/> to
    /// the kernel. Then the kernel's send queue is read (<c>SIOCOUTQ</c> on Linux, <c>SO_NWRITE</c> on macOS: one
    /// system call, no cost per byte) until it is empty, at once and then at growing intervals (5 ms doubling to
    /// 250 ms). Where the system cannot tell (Windows, for one), it returns 0 at once: the socket is then closed as
    /// before and the system sends what is left.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative.</exception>
    public override async ValueTask<long> WaitForDeliveryAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        cancellationToken.ThrowIfCancellationRequested();
        var started = timeProvider.GetTimestamp();
        if (!IsSplicedDirectly && _sendLoop is { IsCompleted: false } sendLoop)
        {
            try
            {
                await sendLoop.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Some of what was written has not even reached the kernel.
                return Math.Max(1, SocketSendQueue.Unacknowledged(_socket) ?? 1);
            }
        }

        var pause = FirstDeliveryPoll;
        while (true)
        {
            var left = SocketSendQueue.Unacknowledged(_socket);
            if (left is null or 0)
            {
                return 0;
            }

            // A reset by the peer leaves the queue as it was: it will never be acknowledged.
            var remaining = timeout - timeProvider.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero || SocketSendQueue.HasFailed(_socket))
            {
                return left.Value;
            }

            await Task.Delay(pause < remaining ? pause : remaining, timeProvider, cancellationToken).ConfigureAwait(false);
            pause = pause * 2 < LastDeliveryPoll ? pause * 2 : LastDeliveryPoll;
        }
    }
}
