using System.Buffers;
using Rendezvous.Protocol.Splicing;

namespace Rendezvous.Protocol.Transport;

/// <summary>Direct splicing of two socket connections, without pipes.</summary>
public sealed partial class SocketRelayConnection
{
    /// <inheritdoc />
    public long RelayedDirectly => Interlocked.Read(ref _relayed);

    /// <inheritdoc />
    public bool FailedFirst => Volatile.Read(ref _failedFirst) != 0;

    /// <inheritdoc />
    public Task<CopyEnd> DirectRelay => _receiveLoop;

    /// <inheritdoc />
    /// <remarks>
    /// Both must be socket connections whose receive loops still run (neither input ended). What each input pipe holds
    /// is written to the other's output, after whatever is there already (<c>+OK</c>, early bytes); then both outputs
    /// are sent and released. Each receive loop, at its next wake-up (or at once when it is mid-read), sends what its
    /// pipe got since, then relays straight to the other socket.
    /// </remarks>
    public ValueTask<bool> TrySpliceDirectAsync(RelayConnection peer, Action<long>? onBytes)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return peer is SocketRelayConnection responder && !ReferenceEquals(responder, this)
            ? TrySpliceDirectAsync(this, responder, onBytes)
            : ValueTask.FromResult(false);
    }

    /// <summary>Splices two connections socket to socket while both receive loops still run (neither input ended).</summary>
    /// <param name="initiator">One side; <see cref="DirectRelay"/> of it is the "up" direction.</param>
    /// <param name="responder">The other side.</param>
    /// <param name="onBytes">Called after each relayed chunk with its size.</param>
    /// <returns><see langword="false"/> (and nothing changed) when either side is not in a state to splice directly.</returns>
    private static async ValueTask<bool> TrySpliceDirectAsync(SocketRelayConnection initiator, SocketRelayConnection responder, Action<long>? onBytes)
    {
        byte[]? fromInitiator;
        byte[]? fromResponder;
        lock (initiator.Gate)
        {
            lock (responder.Gate)
            {
                if (!initiator.CanSpliceDirectly || !responder.CanSpliceDirectly)
                {
                    return false;
                }

                // Both send sides run before either receive loop can see its peer (it waits for the peer's send loop).
                _ = initiator.Output;
                _ = responder.Output;
                fromInitiator = initiator.TakeUnread();
                fromResponder = responder.TakeUnread();
                initiator._onBytes = onBytes;
                responder._onBytes = onBytes;
                Volatile.Write(ref initiator._peer, responder);
                Volatile.Write(ref responder._peer, initiator);
            }
        }

        if (fromInitiator is not null)
        {
            responder.Output.Write(fromInitiator);
            initiator._relayed += fromInitiator.Length;
            onBytes?.Invoke(fromInitiator.Length);
        }

        if (fromResponder is not null)
        {
            initiator.Output.Write(fromResponder);
            responder._relayed += fromResponder.Length;
            onBytes?.Invoke(fromResponder.Length);
        }

        await initiator.HandOverOutputAsync().ConfigureAwait(false);
        await responder.HandOverOutputAsync().ConfigureAwait(false);
        return true;
    }

    /// <summary>Whether the receive loop still fills the pipe and nothing was spliced or closed. Call under <see cref="Gate"/>.</summary>
    private bool CanSpliceDirectly =>
        !_receiveEnded && _peer is null && _received is not null && !_handingOver &&
        Volatile.Read(ref _aborted) == 0 && Volatile.Read(ref _disposed) == 0;
}
