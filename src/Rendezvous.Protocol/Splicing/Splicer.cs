using System.Buffers;
using System.IO.Pipelines;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Protocol.Splicing;

/// <summary>
/// Relays bytes between two connections: two copy loops, one per direction, flushing once per read.
/// A clean end of one side's input becomes a half-close of the other side's output; a reset or error
/// on either side aborts both. Memory is bounded by the connections' pipe thresholds: a slow reader
/// pauses the copy loop, which stops reading, which stops the socket receiving (backpressure).
/// </summary>
public static class Splicer
{
    /// <summary>Splices <paramref name="initiator"/> and <paramref name="responder"/> until both directions end.</summary>
    /// <param name="initiator">The mobile client's connection.</param>
    /// <param name="responder">The hidden server's connection.</param>
    /// <param name="onBytes">Called after each relayed chunk with its size (for metrics); may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Aborts both connections when cancelled.</param>
    /// <returns>How the session ended and how many bytes went each way.</returns>
    /// <remarks>What the caller wrote to either output before is sent first. The caller still owns and disposes both connections.</remarks>
    public static async Task<SpliceResult> SpliceAsync(
        RelayConnection initiator,
        RelayConnection responder,
        Action<long>? onBytes = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(initiator);
        ArgumentNullException.ThrowIfNull(responder);

        using var registration = cancellationToken.Register(static state =>
        {
            var (a, b) = ((RelayConnection, RelayConnection))state!;
            a.Abort();
            b.Abort();
        }, (initiator, responder));

        Task<CopyEnd> upTask;
        Task<CopyEnd> downTask;
        Direction? up = null;
        Direction? down = null;
        var direct = initiator is SocketRelayConnection socketInitiator && responder is SocketRelayConnection socketResponder
            && await TrySpliceDirectAsync(socketInitiator, socketResponder, onBytes).ConfigureAwait(false);
        if (direct)
        {
            upTask = ((SocketRelayConnection)initiator).DirectRelay;
            downTask = ((SocketRelayConnection)responder).DirectRelay;
        }
        else
        {
            // What the caller wrote before (+OK, early bytes) goes out now: a peer may wait for it before it sends.
            await Task.WhenAll(SendWrittenAsync(initiator.Output), SendWrittenAsync(responder.Output)).ConfigureAwait(false);
            up = new Direction(initiator.Input, responder.Output, onBytes);
            down = new Direction(responder.Input, initiator.Output, onBytes);
            upTask = up.RunAsync();
            downTask = down.RunAsync();
        }

        // A direct splice's relay loops abort both sockets themselves when either fails and record which
        // failed first, so it waits for the two in turn (no WhenAny held for the session's lifetime).
        var first = direct ? null : await Task.WhenAny(upTask, downTask).ConfigureAwait(false);
        if (first is not null && first.Result != CopyEnd.Completed)
        {
            initiator.Abort();
            responder.Abort();
        }

        var upEnd = await upTask.ConfigureAwait(false);
        var downEnd = await downTask.ConfigureAwait(false);
        if (upEnd != CopyEnd.Completed || downEnd != CopyEnd.Completed)
        {
            // A failure in one direction aborts the other; make sure both ends are torn down.
            initiator.Abort();
            responder.Abort();
        }

        var upFirst = direct ? ((SocketRelayConnection)initiator).FailedFirst : first == upTask;
        var end = cancellationToken.IsCancellationRequested
            ? SpliceEnd.Canceled
            : Blame(upFirst ? upEnd : downEnd, upFirst, upEnd, downEnd);
        return up is not null && down is not null
            ? new SpliceResult(end, up.Bytes, down.Bytes)
            : new SpliceResult(end, ((SocketRelayConnection)initiator).RelayedDirectly, ((SocketRelayConnection)responder).RelayedDirectly);
    }

    /// <summary>
    /// Two socket connections are spliced socket to socket when both are idle (the usual case right after
    /// pairing): no pipes, no copy loops of the splicer's own. Otherwise the pipe splice runs.
    /// </summary>
    /// <summary>Flushes <paramref name="output"/>; a failed connection is left to the copy loop that writes to it.</summary>
    private static async Task SendWrittenAsync(PipeWriter output)
    {
        try
        {
            // Not with the splice's token: cancellation aborts both connections, which ends any flush.
            await output.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // The connection failed or was aborted; the direction that writes to it sees that and ends the splice.
        }
    }

    private static async ValueTask<bool> TrySpliceDirectAsync(SocketRelayConnection initiator, SocketRelayConnection responder, Action<long>? onBytes)
    {
        try
        {
            return await SocketRelayConnection.TrySpliceDirectAsync(initiator, responder, onBytes).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Handing the outputs over failed: a socket is gone. The relay loops see it and end.
            initiator.Abort();
            responder.Abort();
            return true;
        }
    }

    private static SpliceEnd Blame(CopyEnd firstEnd, bool firstIsUp, CopyEnd upEnd, CopyEnd downEnd)
    {
        if (upEnd == CopyEnd.Completed && downEnd == CopyEnd.Completed)
        {
            return SpliceEnd.Completed;
        }

        // The direction that failed first tells which side broke: a read failure is the source's fault,
        // a write failure the destination's. "up" reads the initiator and writes the responder.
        var (end, isUp) = firstEnd != CopyEnd.Completed ? (firstEnd, firstIsUp) : (firstIsUp ? downEnd : upEnd, !firstIsUp);
        var initiatorBroke = (end == CopyEnd.ReadFailed) == isUp;
        return end == CopyEnd.Canceled ? SpliceEnd.Canceled
            : initiatorBroke ? SpliceEnd.InitiatorFailed : SpliceEnd.ResponderFailed;
    }

    private sealed class Direction(PipeReader source, PipeWriter destination, Action<long>? onBytes)
    {
        public long Bytes { get; private set; }

        public async Task<CopyEnd> RunAsync()
        {
            while (true)
            {
                ReadResult read;
                try
                {
                    read = await source.ReadAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    await source.CompleteAsync().ConfigureAwait(false);
                    return CopyEnd.ReadFailed;
                }

                if (read.IsCanceled)
                {
                    return CopyEnd.Canceled;
                }

                var buffer = read.Buffer;
                var length = buffer.Length;
                if (length > 0)
                {
                    foreach (var segment in buffer)
                    {
                        destination.Write(segment.Span);
                    }

                    source.AdvanceTo(buffer.End);
                    Bytes += length;
                    onBytes?.Invoke(length);

                    FlushResult flush;
                    try
                    {
                        flush = await destination.FlushAsync().ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        return CopyEnd.WriteFailed;
                    }

                    if (flush.IsCompleted || flush.IsCanceled)
                    {
                        // The destination's transport stopped sending: its peer is gone.
                        return CopyEnd.WriteFailed;
                    }
                }
                else
                {
                    source.AdvanceTo(buffer.End);
                }

                if (read.IsCompleted)
                {
                    // A clean end of stream: pass the half-close on and stop reading this side.
                    await destination.CompleteAsync().ConfigureAwait(false);
                    await source.CompleteAsync().ConfigureAwait(false);
                    return CopyEnd.Completed;
                }
            }
        }
    }
}
