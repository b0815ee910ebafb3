using System.Net.Sockets;

namespace Rendezvous.Protocol.Transport;

/// <summary>
/// The accept loop over an <see cref="IRelayListener"/>: the relay server's and the client's local forwarder's. It
/// accepts until the listener is disposed or the loop is cancelled, hands each connection to a callback that takes or
/// refuses it, and rides out failed accepts (out of file descriptors and the like) by waiting
/// <see cref="RetryDelay"/> before the next try and reporting them at most once per <see cref="ReportInterval"/>.
/// </summary>
public static class RelayAcceptLoop
{
    /// <summary>How long the loop waits after a failed accept: the connection stays queued, so trying at once would spin.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>The shortest time between two reports of failed accepts.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Accepts connections from <paramref name="listener"/> and hands each to <paramref name="onAccepted"/> until the
    /// listener is disposed (its <see cref="IRelayListener.AcceptAsync"/> returns <see langword="null"/>) or
    /// <paramref name="cancellationToken"/> is cancelled; either way the returned task completes without an error. The
    /// listener is not disposed by the loop.
    /// </summary>
    /// <param name="listener">Where connections come from; one loop per listener.</param>
    /// <param name="onAccepted">
    /// Runs on the loop for each accepted connection and owns it from then on when it returns <see langword="true"/>;
    /// <see langword="false"/> refuses it and the loop aborts it (TCP RST). It should hand longer work to a task of its
    /// own and return, since the next accept waits for it. Pass a cached delegate: the loop allocates nothing of its
    /// own per connection.
    /// </param>
    /// <param name="onAcceptFailed">
    /// Reports failed accepts (a <see cref="SocketException"/> from <see cref="IRelayListener.AcceptAsync"/>, after
    /// which the loop waits <see cref="RetryDelay"/> and tries again): called for the first failure, then at most once
    /// per <see cref="ReportInterval"/>, with the error and how many accepts failed since the last report (counting
    /// this one). May be <see langword="null"/>.
    /// </param>
    /// <param name="waitToAccept">
    /// Awaited before each accept, for instance until the caller has room for another connection, so that the next
    /// ones wait in the listen backlog meanwhile. May be <see langword="null"/>.
    /// </param>
    /// <param name="timeProvider">The clock of the waits after failed accepts and of the report interval; the system clock when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops the loop; connections handed out already are not affected.</param>
    /// <returns>
    /// A task that completes when the loop ended. It fails only with what the listener threw (other than a
    /// <see cref="SocketException"/>) or what a callback threw; a connection whose <paramref name="onAccepted"/> threw is aborted first.
    /// </returns>
    public static async Task RunAsync(
        IRelayListener listener,
        Func<RelayConnection, bool> onAccepted,
        Action<SocketException, int>? onAcceptFailed = null,
        Func<CancellationToken, ValueTask>? waitToAccept = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(onAccepted);
        var time = timeProvider ?? TimeProvider.System;
        var failures = 0;
        long lastReported = 0;
        var reported = false;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                if (waitToAccept is not null)
                {
                    await waitToAccept(cancellationToken).ConfigureAwait(false);
                }

                RelayConnection? connection;
                try
                {
                    connection = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException ex)
                {
                    // Out of file descriptors (EMFILE/ENFILE) and the like: the connection stays in the backlog, so
                    // wait instead of spinning, and report once in a while instead of per try.
                    failures++;
                    var now = time.GetTimestamp();
                    if (!reported || time.GetElapsedTime(lastReported, now) >= ReportInterval)
                    {
                        reported = true;
                        lastReported = now;
                        var count = failures;
                        failures = 0;
                        onAcceptFailed?.Invoke(ex, count);
                    }

                    await Task.Delay(RetryDelay, time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (connection is null)
                {
                    return;
                }

                bool taken;
                try
                {
                    taken = onAccepted(connection);
                }
                catch
                {
                    // The callback failed before it owned the connection: nothing else will close it.
                    connection.Abort();
                    throw;
                }

                if (!taken)
                {
                    connection.Abort();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped: an ordinary end.
        }
    }
}
