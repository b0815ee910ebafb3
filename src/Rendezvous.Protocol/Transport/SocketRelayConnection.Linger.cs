namespace Rendezvous.Protocol.Transport;

/// <summary>The end of a session: waiting until the peer has acknowledged what was sent before the socket is closed.</summary>
public sealed partial class SocketRelayConnection
{
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

        return await DeliveryPoll.WaitAsync(_socket, static socket => SocketSendQueue.Unacknowledged(socket), static socket => SocketSendQueue.HasFailed(socket), timeout, timeProvider, started, cancellationToken).ConfigureAwait(false);
    }
}
