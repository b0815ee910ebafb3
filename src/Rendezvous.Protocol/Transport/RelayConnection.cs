using System.IO.Pipelines;
using System.Net;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// One end of a relayed session: bytes received from the peer come out of <see cref="Input"/>,
/// bytes written to <see cref="Output"/> go to the peer. Completing <see cref="Output"/> ends only the
/// sending direction (a half-close, TCP FIN); <see cref="Abort"/> tears the connection down at once
/// (TCP RST). A clean end of the peer's sending direction completes <see cref="Input"/>; a reset or
/// error completes it with an exception.
/// </summary>
public abstract class RelayConnection : IDuplexPipe, IAsyncDisposable
{
    /// <summary>Bytes from the peer.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>Bytes to the peer. Completing it sends a half-close once everything written was sent.</summary>
    public abstract PipeWriter Output { get; }

    /// <summary>The peer's address, when known.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>
    /// Once the sending direction has ended (<see cref="Output"/> completed, or a direct splice passed the end on),
    /// waits until the peer has acknowledged every byte sent to it, for at most <paramref name="timeout"/>: closing
    /// earlier would leave those bytes to the operating system, which may drop them (under memory pressure it resets
    /// closed connections that still hold data). The base implementation has nothing of its own to wait for and
    /// returns 0 at once.
    /// </summary>
    /// <param name="timeout">How long to wait at most.</param>
    /// <param name="timeProvider">The clock for <paramref name="timeout"/> and the waits between checks.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>
    /// 0 when everything was acknowledged (or the transport cannot tell); otherwise how many bytes were still
    /// unacknowledged when the time ran out or the connection failed.
    /// </returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public virtual ValueTask<long> WaitForDeliveryAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(0L);
    }

    /// <summary>Tears the connection down at once, discarding unsent bytes (TCP RST for sockets).</summary>
    public abstract void Abort();

    /// <summary>
    /// Closes the connection gracefully: what was written is sent, the sending direction is ended,
    /// the transport's loops are awaited and resources are released.
    /// </summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public abstract ValueTask DisposeAsync();
}
