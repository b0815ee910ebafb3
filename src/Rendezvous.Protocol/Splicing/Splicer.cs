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
        using var registration = AbortOnCancel(initiator, responder, cancellationToken);
        if (await TrySpliceDirectAsync(initiator, responder, onBytes).ConfigureAwait(false) is not { } up)
        {
            return await PipeSpliceAsync(initiator, responder, onBytes, cancellationToken).ConfigureAwait(false);
        }

        // The direct relay loops abort both connections themselves when either fails and record which failed
        // first, so the two are awaited in turn (no WhenAny held for the session's lifetime).
        var down = responder.GetFeature<IDirectSpliceFeature>()!;
        var upEnd = await up.DirectRelay.ConfigureAwait(false);
        var downEnd = await down.DirectRelay.ConfigureAwait(false);
        return DirectResult(initiator, responder, up, down, upEnd, downEnd, cancellationToken);
    }

    /// <summary>Makes cancelling <paramref name="cancellationToken"/> abort both connections (a splice's stop).</summary>
    internal static CancellationTokenRegistration AbortOnCancel(RelayConnection initiator, RelayConnection responder, CancellationToken cancellationToken) =>
        cancellationToken.Register(static state =>
        {
            var (a, b) = ((RelayConnection, RelayConnection))state!;
            a.Abort();
            b.Abort();
        }, (initiator, responder));

    /// <summary>
    /// Starts the transport's direct splice when it offers one for both connections (<see cref="IDirectSpliceFeature"/>:
    /// socket to socket) and both are idle, the usual case right after pairing: no pipes, no copy loops of the
    /// splicer's own. The caller then awaits both sides' <see cref="IDirectSpliceFeature.DirectRelay"/> in turn and
    /// ends with <see cref="DirectResult"/>, in its own method: each suspended method is an object kept for the
    /// whole session. When this declines, the caller runs <see cref="PipeSpliceAsync"/>.
    /// </summary>
    /// <returns>The initiator's feature when the direct splice runs (the responder then offers it too); <see langword="null"/> when it does not.</returns>
    internal static async ValueTask<IDirectSpliceFeature?> TrySpliceDirectAsync(RelayConnection initiator, RelayConnection responder, Action<long>? onBytes)
    {
        if (initiator.GetFeature<IDirectSpliceFeature>() is not { } splice)
        {
            return null;
        }

        try
        {
            if (!await splice.TrySpliceDirectAsync(responder, onBytes).ConfigureAwait(false))
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // Handing the outputs over failed: a connection is gone. The relay loops see it and end.
            initiator.Abort();
            responder.Abort();
        }

        if (responder.GetFeature<IDirectSpliceFeature>() is null)
        {
            // A transport broke the feature's contract; the relay it started must not outlive the session.
            initiator.Abort();
            responder.Abort();
            throw new InvalidOperationException($"{initiator.GetType().Name} spliced directly with a {responder.GetType().Name} that offers no {nameof(IDirectSpliceFeature)}.");
        }

        return splice;
    }

    /// <summary>How a direct splice ended, once both its directions did (see <see cref="TrySpliceDirectAsync"/>).</summary>
    internal static SpliceResult DirectResult(
        RelayConnection initiator,
        RelayConnection responder,
        IDirectSpliceFeature up,
        IDirectSpliceFeature down,
        CopyEnd upEnd,
        CopyEnd downEnd,
        CancellationToken cancellationToken)
    {
        AbortUnlessCompleted(initiator, responder, upEnd, downEnd);
        return new SpliceResult(EndOf(cancellationToken, up.FailedFirst, upEnd, downEnd), up.RelayedDirectly, down.RelayedDirectly);
    }

    /// <summary>
    /// The pipe splice: two copy loops. A method of its own, so that its locals are not kept in the state of every
    /// directly spliced session, which waits in its caller (<see cref="SpliceAsync"/>, or the relay's handler) for as
    /// long as it lasts.
    /// </summary>
    internal static async Task<SpliceResult> PipeSpliceAsync(
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
