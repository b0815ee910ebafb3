using Rendezvous.Protocol.Transport;

namespace Rendezvous.Protocol.Broker;

/// <summary>How a parked responder's wait ended.</summary>
public enum ParkOutcome
{
    /// <summary>An initiator took it; the initiator's side now owns the connection.</summary>
    Paired,

    /// <summary>The peer closed or reset the connection while it was parked.</summary>
    PeerClosed,

    /// <summary>Its cookie was superseded by a new registration or the UUID was removed.</summary>
    Superseded,

    /// <summary>The cookie's pool was full and this was the oldest connection.</summary>
    PoolFull,

    /// <summary>The server is shutting down.</summary>
    ShuttingDown,
}

/// <summary>
/// A hidden server's connection waiting at the broker to be paired. While parked, its input is watched
/// so that a peer that closes or resets is unparked at once; bytes it sends are kept (bounded) and
/// delivered to the initiator after <c>+OK</c>.
/// </summary>
public sealed class ParkedResponder
{
    // Completed by the broker once its lock is released, so what awaits the outcome may go on inline.
    private readonly TaskCompletionSource<ParkOutcome> _outcome = new();
    private ConnectionWatch? _watch;

    /// <summary>Creates a parked responder for <paramref name="connection"/>.</summary>
    /// <param name="connection">The connection that sent the <c>R</c> line.</param>
    public ParkedResponder(RelayConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        Connection = connection;
    }

    /// <summary>The parked connection.</summary>
    public RelayConnection Connection { get; }

    /// <summary>Completes when the wait ends. Its continuations may run on the thread that ended it (the paired initiator's, say).</summary>
    public Task<ParkOutcome> Outcome => _outcome.Task;

    /// <summary>The bytes the responder sent while parked, once watching stopped.</summary>
    internal ReadOnlyMemory<byte> EarlyBytes => _watch?.Kept ?? ReadOnlyMemory<byte>.Empty;

    /// <summary>Completes when the peer closed or reset, or watching stopped.</summary>
    internal Task<WatchEnd> PeerGone => _watch?.Completion ?? Task.FromResult(WatchEnd.Stopped);

    /// <summary>The UUID whose cookie it parked under, once parked.</summary>
    internal string? Uuid { get; set; }

    internal LinkedListNode<ParkedResponder>? Node { get; set; }

    internal object? Owner { get; set; }

    internal void SetOutcome(ParkOutcome outcome) => _outcome.TrySetResult(outcome);

    /// <summary>Starts watching the input for the peer going away, keeping up to <paramref name="limit"/> early bytes.</summary>
    internal void StartWatching(int limit) => _watch = new ConnectionWatch(Connection.Input, limit);

    /// <summary>Stops watching so that the input can be read by someone else.</summary>
    /// <returns>Why the watch ended: <see cref="WatchEnd.Ended"/> or <see cref="WatchEnd.Failed"/> mean the peer is gone.</returns>
    internal Task<WatchEnd> StopWatchingAsync() => _watch?.StopAsync() ?? Task.FromResult(WatchEnd.Stopped);
}
