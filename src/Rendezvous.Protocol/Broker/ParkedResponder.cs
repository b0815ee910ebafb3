using System.Buffers;
using System.IO.Pipelines;
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
/// so that a peer that closes or resets is unparked at once; bytes it sends are kept (bounded by the
/// transport's buffer limit) and delivered to the initiator after <c>+OK</c>.
/// </summary>
public sealed class ParkedResponder
{
    private readonly TaskCompletionSource<ParkOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task<WatchEnd>? _watch;

    /// <summary>Creates a parked responder for <paramref name="connection"/>.</summary>
    /// <param name="connection">The connection that sent the <c>R</c> line.</param>
    public ParkedResponder(RelayConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        Connection = connection;
    }

    /// <summary>The parked connection.</summary>
    public RelayConnection Connection { get; }

    /// <summary>Completes when the wait ends.</summary>
    public Task<ParkOutcome> Outcome => _outcome.Task;

    internal LinkedListNode<ParkedResponder>? Node { get; set; }

    internal object? Owner { get; set; }

    internal bool TrySetOutcome(ParkOutcome outcome) => _outcome.TrySetResult(outcome);

    /// <summary>Starts watching the input for the peer going away.</summary>
    internal void StartWatching() => _watch = WatchAsync(Connection.Input);

    /// <summary>Completes when the peer closed or reset, or watching stopped.</summary>
    internal Task<WatchEnd> PeerGone => _watch ?? Task.FromResult(WatchEnd.Stopped);

    /// <summary>Stops watching so that the input can be read by someone else.</summary>
    internal Task StopWatchingAsync() => _watch is null ? Task.CompletedTask : StopWatchAsync(Connection.Input, _watch);

    /// <summary>Stops a <see cref="WatchAsync"/> loop and leaves the reader ready for its next user.</summary>
    internal static async Task<WatchEnd> StopWatchAsync(PipeReader input, Task<WatchEnd> watch)
    {
        if (!watch.IsCompleted)
        {
            input.CancelPendingRead();
        }

        var end = await watch.ConfigureAwait(false);
        if (end != WatchEnd.Stopped)
        {
            // The watch ended by itself; a cancellation that came too late must not reach the next reader.
            try
            {
                if (input.TryRead(out var pending))
                {
                    input.AdvanceTo(pending.Buffer.Start);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The input failed; its next reader will see that.
            }
        }

        return end;
    }

    /// <summary>
    /// Reads without consuming, until the peer ends or fails or the read is cancelled.
    /// What was received stays in the pipe for whoever reads next.
    /// </summary>
    internal static async Task<WatchEnd> WatchAsync(PipeReader input)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                return WatchEnd.Failed;
            }

            var buffer = result.Buffer;
            if (result.IsCanceled)
            {
                // Leave everything unexamined so the next reader gets the kept bytes at once.
                input.AdvanceTo(buffer.Start);
                return WatchEnd.Stopped;
            }

            input.AdvanceTo(buffer.Start, buffer.End);

            if (result.IsCompleted)
            {
                return WatchEnd.Ended;
            }
        }
    }
}

/// <summary>Why watching a waiting connection stopped.</summary>
internal enum WatchEnd
{
    /// <summary>Someone cancelled the watch to read the input.</summary>
    Stopped,

    /// <summary>The peer ended its sending direction.</summary>
    Ended,

    /// <summary>The connection was reset or failed.</summary>
    Failed,
}
