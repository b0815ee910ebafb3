using System.IO.Pipelines;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Protocol.Splicing;

/// <summary>
/// Relays bytes between two connections: directly by their transport when it offers <see cref="IDirectSpliceFeature"/>
/// for both, otherwise with two <see cref="RelayCopy"/> loops, one per direction, flushing once per read.
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

        // A transport that can relay its own connections by itself (sockets: socket to socket) is asked first.
        if (initiator.GetFeature<IDirectSpliceFeature>() is { } initiatorSplice
            && await TrySpliceDirectAsync(initiatorSplice, initiator, responder, onBytes).ConfigureAwait(false))
        {
            if (responder.GetFeature<IDirectSpliceFeature>() is not { } responderSplice)
            {
                // A transport broke the feature's contract; the relay it started must not outlive the session.
                initiator.Abort();
                responder.Abort();
                throw new InvalidOperationException($"{initiator.GetType().Name} spliced directly with a {responder.GetType().Name} that offers no {nameof(IDirectSpliceFeature)}.");
            }

            // The direct relay loops abort both connections themselves when either fails and record which failed
            // first, so the two are awaited in turn (no WhenAny held for the session's lifetime).
            var upDirect = await initiatorSplice.DirectRelay.ConfigureAwait(false);
            var downDirect = await responderSplice.DirectRelay.ConfigureAwait(false);
            AbortUnlessCompleted(initiator, responder, upDirect, downDirect);
            return new SpliceResult(
                EndOf(cancellationToken, initiatorSplice.FailedFirst, upDirect, downDirect),
                initiatorSplice.RelayedDirectly,
                responderSplice.RelayedDirectly);
        }

        return await PipeSpliceAsync(initiator, responder, onBytes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The pipe splice: two copy loops. A method of its own, so that its locals are not kept in the state of every
    /// directly spliced session, which waits in <see cref="SpliceAsync"/> for as long as it lasts.
    /// </summary>
    private static async Task<SpliceResult> PipeSpliceAsync(
        RelayConnection initiator,
        RelayConnection responder,
        Action<long>? onBytes,
        CancellationToken cancellationToken)
    {
        // What the caller wrote before (+OK, early bytes) goes out now: a peer may wait for it before it sends.
        await Task.WhenAll(SendWrittenAsync(initiator.Output), SendWrittenAsync(responder.Output)).ConfigureAwait(false);
        var upTask = RelayCopy.CopyAsync(initiator.Input, responder.Output, onBytes);
        var downTask = RelayCopy.CopyAsync(responder.Input, initiator.Output, onBytes);
        var first = await Task.WhenAny(upTask, downTask).ConfigureAwait(false);
        if (first.Result.End != CopyEnd.Completed)
        {
            initiator.Abort();
            responder.Abort();
        }

        var up = await upTask.ConfigureAwait(false);
        var down = await downTask.ConfigureAwait(false);
        AbortUnlessCompleted(initiator, responder, up.End, down.End);
        return new SpliceResult(EndOf(cancellationToken, first == upTask, up.End, down.End), up.Bytes, down.Bytes);
    }

    /// <summary>A failure in one direction aborts the other; makes sure both ends are torn down.</summary>
    private static void AbortUnlessCompleted(RelayConnection initiator, RelayConnection responder, CopyEnd upEnd, CopyEnd downEnd)
    {
        if (upEnd != CopyEnd.Completed || downEnd != CopyEnd.Completed)
        {
            initiator.Abort();
            responder.Abort();
        }
    }

    private static SpliceEnd EndOf(CancellationToken cancellationToken, bool upFirst, CopyEnd upEnd, CopyEnd downEnd) =>
        cancellationToken.IsCancellationRequested ? SpliceEnd.Canceled : Blame(upFirst ? upEnd : downEnd, upFirst, upEnd, downEnd);

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

    /// <summary>
    /// Two connections are spliced by their transport when it offers it and both are idle (the usual case right after
    /// pairing): no pipes, no copy loops of the splicer's own. Otherwise the pipe splice runs.
    /// </summary>
    private static async ValueTask<bool> TrySpliceDirectAsync(IDirectSpliceFeature splice, RelayConnection initiator, RelayConnection responder, Action<long>? onBytes)
    {
        try
        {
            return await splice.TrySpliceDirectAsync(responder, onBytes).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Handing the outputs over failed: a connection is gone. The relay loops see it and end.
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
}
