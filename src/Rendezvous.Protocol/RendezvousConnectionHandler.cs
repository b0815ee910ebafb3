using System.Buffers;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Protocol.Internal;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Protocol.Splicing;
using Rendezvous.Protocol.Transport;
using Rendezvous.Protocol.Wire;

namespace Rendezvous.Protocol;

/// <summary>
/// Runs one rendezvous connection: reads the first line (bounded in size and time), then parks a
/// responder or pairs an initiator and splices the two until both directions end.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027", Justification = "The 0.1.0 constructor keeps its optional logger; those with a directory (DI picks the one with a pool advisor) take it as required.")]
public sealed class RendezvousConnectionHandler
{
    /// <summary>How many responders found dead at pairing time an initiator skips before it gives up.</summary>
    private const int MaxDeadResponderRetries = 8;

    private readonly RendezvousBroker _broker;
    private readonly IRegistrationDirectory _directory;
    private readonly PoolAdvisor? _advisor;
    private readonly IOptionsMonitor<RendezvousRelayOptions> _options;
    private readonly TimeProvider _time;
    private readonly RendezvousMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ConcurrencyLimiter<IPAddress> _handshakes = new();

    // Sessions (initiators paired or waiting) per client address key and UUID, keyed "UUID ADDRESS".
    private readonly ConcurrencyLimiter<string> _sessions = new(StringComparer.OrdinalIgnoreCase);

    // The splice's byte callback for sessions without a UUID's counters (made once).
    private readonly Action<long> _bytesRelayed;

    /// <summary>Creates a handler.</summary>
    /// <param name="broker">The broker that pairs connections.</param>
    /// <param name="options">Timeouts.</param>
    /// <param name="time">The clock for the first-line timeout.</param>
    /// <param name="metrics">Counters.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    public RendezvousConnectionHandler(
        RendezvousBroker broker,
        IOptionsMonitor<RendezvousRelayOptions> options,
        TimeProvider time,
        RendezvousMetrics metrics,
        ILogger<RendezvousConnectionHandler>? logger = null)
        : this(broker, new LocalRegistrationDirectory(broker), options, time, metrics, logger)
    {
    }

    /// <summary>Creates a handler that asks a registration directory about cookies its broker does not hold (a cluster's, say).</summary>
    /// <param name="broker">The broker that pairs connections.</param>
    /// <param name="directory">Makes registrations issued elsewhere current in the broker when they park here.</param>
    /// <param name="options">Timeouts.</param>
    /// <param name="time">The clock for the first-line timeout.</param>
    /// <param name="metrics">Counters.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    public RendezvousConnectionHandler(
        RendezvousBroker broker,
        IRegistrationDirectory directory,
        IOptionsMonitor<RendezvousRelayOptions> options,
        TimeProvider time,
        RendezvousMetrics metrics,
        ILogger<RendezvousConnectionHandler>? logger)
        : this(null, broker, directory, options, time, metrics, logger)
    {
    }

    /// <summary>
    /// Creates a handler that asks a registration directory about cookies its broker does not hold, and reports to
    /// <paramref name="advisor"/> the initiators that need a responder, so that it can size each hidden server's pool.
    /// </summary>
    /// <param name="broker">The broker that pairs connections.</param>
    /// <param name="directory">Makes registrations issued elsewhere current in the broker when they park here.</param>
    /// <param name="advisor">Measures the demand for responders per UUID.</param>
    /// <param name="options">Timeouts.</param>
    /// <param name="time">The clock for the first-line timeout.</param>
    /// <param name="metrics">Counters.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    public RendezvousConnectionHandler(
        RendezvousBroker broker,
        IRegistrationDirectory directory,
        PoolAdvisor advisor,
        IOptionsMonitor<RendezvousRelayOptions> options,
        TimeProvider time,
        RendezvousMetrics metrics,
        ILogger<RendezvousConnectionHandler>? logger)
        : this(advisor ?? throw new ArgumentNullException(nameof(advisor)), broker, directory, options, time, metrics, logger)
    {
    }

    private RendezvousConnectionHandler(
        PoolAdvisor? advisor,
        RendezvousBroker broker,
        IRegistrationDirectory directory,
        IOptionsMonitor<RendezvousRelayOptions> options,
        TimeProvider time,
        RendezvousMetrics metrics,
        ILogger<RendezvousConnectionHandler>? logger)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(metrics);
        _broker = broker;
        _directory = directory;
        _advisor = advisor;
        _options = options;
        _time = time;
        _metrics = metrics;
        _bytesRelayed = metrics.BytesRelayed;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>How many (client address, UUID) pairs hold sessions now: paired or waiting initiators.</summary>
    internal int SessionSourceCount => _sessions.KeyCount;

    /// <summary>
    /// Handles <paramref name="connection"/> until its session ends. The handler owns the connection
    /// and disposes it (or hands it to the initiator it was paired with).
    /// </summary>
    /// <param name="connection">A freshly accepted connection.</param>
    /// <param name="cancellationToken">Aborts the connection and its session (server stopping).</param>
    /// <returns>A task that completes when the connection is no longer this handler's.</returns>
    public async Task HandleAsync(RelayConnection connection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var owned = true;
        string? sessionKey = null;
        try
        {
            var (error, line) = await ReadFirstLineAsync(connection, cancellationToken).ConfigureAwait(false);
            if (error is { } refused)
            {
                await RefuseAsync(connection, refused).ConfigureAwait(false);
            }
            else if (line is { Mode: HandshakeMode.Responder } responder)
            {
                owned = await RespondAsync(connection, responder.Cookie, cancellationToken).ConfigureAwait(false);
            }
            else if (line is { } initiator)
            {
                // One client address may hold only so many sessions (paired or waiting) for one UUID, so it cannot
                // take every connection the hidden server parks: refused before anything is taken, and counted
                // here, until the session ends whichever way it ends.
                // The key is kept for the release only once it was counted.
                var key = SessionKey(connection, initiator.Cookie);
                if (key is not null && !_sessions.TryEnter(key, _options.CurrentValue.MaxSessionsPerAddressPerUuid))
                {
                    await RefuseAsync(connection, HandshakeError.TooManySessions).ConfigureAwait(false);
                    return;
                }

                sessionKey = key;

                var (status, parked, fromInitiator) = await WaitForResponderAsync(connection, initiator.Cookie, cancellationToken).ConfigureAwait(false);
                if (parked is null)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    await RefuseAsync(connection, status == InitiateStatus.NotRegistered ? HandshakeError.NotRegistered : HandshakeError.NotReady).ConfigureAwait(false);
                    return;
                }

                // +OK first, then what each side sent while it waited, then the live splice.
                var hiddenServer = parked.Connection;
                connection.Output.Write(ProtocolReplies.Ok);
                connection.Output.Write(parked.EarlyBytes.Span);
                hiddenServer.Output.Write(ProtocolReplies.Ok);
                hiddenServer.Output.Write(fromInitiator.Span);
                var uuid = parked.Uuid;

                // The session runs in this method, not in others it awaits (the splicer's included): each suspended
                // method is an object kept for the whole session, and idle sessions are counted in thousands. So
                // nothing of the waiting phase stays referenced from it either: the parked entry (with its finished
                // watch) and the kept bytes.
                parked = null;
                fromInitiator = default;
                _metrics.SessionStarted();
                var activity = uuid is not null ? _broker.Activity.StartSession(uuid) : null;
                ProtocolLog.SessionStarted(_logger, connection.RemoteEndPoint, hiddenServer.RemoteEndPoint);
                var end = "failed";
                try
                {
                    SpliceResult result;
                    var onBytes = activity?.BytesCallback(_metrics) ?? _bytesRelayed;
                    using (Splicer.AbortOnCancel(connection, hiddenServer, cancellationToken))
                    {
                        if (await Splicer.TrySpliceDirectAsync(connection, hiddenServer, onBytes).ConfigureAwait(false) is { } up)
                        {
                            // Both directions, in turn: each aborts both connections when it fails.
                            var down = hiddenServer.GetFeature<IDirectSpliceFeature>()!;
                            var upEnd = await up.DirectRelay.ConfigureAwait(false);
                            result = Splicer.DirectResult(connection, hiddenServer, up, down, upEnd, await down.DirectRelay.ConfigureAwait(false), cancellationToken);
                        }
                        else
                        {
                            result = await Splicer.PipeSpliceAsync(connection, hiddenServer, onBytes, cancellationToken).ConfigureAwait(false);
                        }
                    }

                    end = result.End switch
                    {
                        SpliceEnd.Completed => await WaitForDeliveryAsync(connection, hiddenServer, cancellationToken).ConfigureAwait(false),
                        SpliceEnd.InitiatorFailed => "initiator_failed",
                        SpliceEnd.ResponderFailed => "responder_failed",
                        _ => "canceled",
                    };
                    ProtocolLog.SessionEnded(_logger, end, result.BytesFromInitiator, result.BytesFromResponder);
                }
                finally
                {
                    _metrics.SessionEnded(end);
                    activity?.End();
                    await hiddenServer.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            connection.Abort();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            ProtocolLog.ConnectionFailed(_logger, connection.RemoteEndPoint, ex);
            connection.Abort();
        }
        finally
        {
            if (sessionKey is not null)
            {
                _sessions.Exit(sessionKey);
            }

            if (owned)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Reads the first line. A connection whose line is not there at the first look keeps the relay waiting, and one
    /// address may hold only so many of those: over <see cref="RendezvousRelayOptions.MaxHandshakesPerAddress"/> it is
    /// reset (counted, and answered with nothing, as a flood deserves).
    /// </summary>
    /// <returns>The line, or the error to answer with; neither when there is nobody to answer.</returns>
    private async ValueTask<(HandshakeError? Error, HandshakeLine? Line)> ReadFirstLineAsync(RelayConnection connection, CancellationToken cancellationToken)
    {
        var input = connection.Input;

        // The deadline is armed only when the line is not there yet (it usually is, read with the accept):
        // one token source for both the deadline and the server stopping, which it follows with a
        // registration rather than a linked source.
        CancellationTokenSource? timeout = null;
        CancellationTokenRegistration stopping = default;
        IPAddress? waitingFrom = null;
        var looked = false;
        try
        {
            while (true)
            {
                // Only the first look may be TryRead: after a partial line it would return the same bytes again.
                if (looked || !input.TryRead(out var result))
                {
                    if (timeout is null)
                    {
                        if ((connection.RemoteEndPoint as IPEndPoint)?.Address is { } address)
                        {
                            if (!_handshakes.TryEnter(address, _options.CurrentValue.MaxHandshakesPerAddress))
                            {
                                _metrics.HandshakeFailed("too_many_handshakes");
                                ProtocolLog.HandshakeFailed(_logger, connection.RemoteEndPoint, "too_many_handshakes");
                                connection.Abort();
                                return (null, null);
                            }

                            waitingFrom = address;
                        }

                        timeout = new CancellationTokenSource(_options.CurrentValue.FirstLineTimeout, _time);
                        stopping = cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timeout);
                    }

                    try
                    {
                        result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        return (HandshakeError.Timeout, null);
                    }
                }

                looked = true;
                var buffer = result.Buffer;
                var status = HandshakeParser.TryParse(buffer, out var line, out var consumed, out var examined);
                input.AdvanceTo(consumed, examined);
                switch (status)
                {
                    case HandshakeParseStatus.Complete:
                        return (null, line);
                    case HandshakeParseStatus.LineTooLong:
                        return (HandshakeError.LineTooLong, null);
                    case HandshakeParseStatus.InvalidCookie:
                        return (HandshakeError.InvalidCookie, null);
                }

                if (result.IsCompleted)
                {
                    // The peer left before finishing its line: nobody to answer.
                    return (null, null);
                }
            }
        }
        finally
        {
            stopping.Dispose();
            timeout?.Dispose();
            if (waitingFrom is not null)
            {
                _handshakes.Exit(waitingFrom);
            }
        }
    }

    private async Task RefuseAsync(RelayConnection connection, HandshakeError error)
    {
        var reason = error switch
        {
            HandshakeError.NotRegistered => "not_registered",
            HandshakeError.NotReady => "not_ready",
            HandshakeError.InvalidCookie => "invalid_cookie",
            HandshakeError.LineTooLong => "line_too_long",
            HandshakeError.TooManySessions => "too_many_sessions",
            _ => "timeout",
        };
        _metrics.HandshakeFailed(reason);
        ProtocolLog.HandshakeFailed(_logger, connection.RemoteEndPoint, reason);
        connection.Output.Write(ProtocolReplies.Error(error));
        await connection.Output.FlushAsync().ConfigureAwait(false);
    }

    /// <returns>Whether this handler still owns the connection.</returns>
    private async Task<bool> RespondAsync(RelayConnection connection, string cookie, CancellationToken cancellationToken)
    {
        var parked = new ParkedResponder(connection);
        parked.StartWatching(_options.CurrentValue.MaxBufferedBytesPerDirection);
        if (_broker.Park(cookie, parked) == ParkStatus.NotRegistered
            && (!await _directory.TryAdoptAsync(RendezvousCookies.InitiatorValueFor(cookie), cancellationToken).ConfigureAwait(false)
                || _broker.Park(cookie, parked) == ParkStatus.NotRegistered))
        {
            await parked.StopWatchingAsync().ConfigureAwait(false);
            await RefuseAsync(connection, HandshakeError.NotRegistered).ConfigureAwait(false);
            return true;
        }

        _metrics.Parked(1);
        ProtocolLog.Parked(_logger, connection.RemoteEndPoint);
        try
        {
            var first = await Task.WhenAny(parked.PeerGone, parked.Outcome).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (first == parked.PeerGone && await parked.PeerGone.ConfigureAwait(false) is WatchEnd.Ended or WatchEnd.Failed)
            {
                _broker.Unpark(parked);
            }

            // Usually the outcome is what ended the wait: take it without one more cancellable wait.
            var outcome = parked.Outcome.IsCompletedSuccessfully
                ? parked.Outcome.Result
                : await parked.Outcome.WaitAsync(cancellationToken).ConfigureAwait(false);
            ProtocolLog.Unparked(_logger, connection.RemoteEndPoint, outcome);
            if (outcome == ParkOutcome.Paired)
            {
                return false;
            }

            await parked.StopWatchingAsync().ConfigureAwait(false);
            if (outcome == ParkOutcome.PeerClosed)
            {
                // The peer reset or closed; a graceful close would only wait on a dead socket.
                connection.Abort();
            }

            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Server stopping: take it out of the park unless an initiator got it first. Not parked any more means an
            // outcome was decided, which the broker hands over as soon as it releases its lock.
            if (!_broker.Unpark(parked) && await parked.Outcome.ConfigureAwait(false) == ParkOutcome.Paired)
            {
                return false;
            }

            throw;
        }
        finally
        {
            _metrics.Parked(-1);
        }
    }

    /// <summary>
    /// Both directions ended cleanly: waits (at most <see cref="RendezvousRelayOptions.CloseLinger"/>, both sides at
    /// once) until each peer has acknowledged what the relay sent it, so that no socket is closed, nor the session
    /// called completed, while the kernel still holds bytes for it. A side with bytes left is closed with a reset, so
    /// its peer learns the stream was cut instead of taking it for whole.
    /// </summary>
    /// <returns><c>completed</c>, <c>truncated</c>, or <c>canceled</c> when the server stopped meanwhile.</returns>
    private async Task<string> WaitForDeliveryAsync(RelayConnection initiator, RelayConnection responder, CancellationToken cancellationToken)
    {
        var linger = _options.CurrentValue.CloseLinger;
        long toInitiator, toResponder;
        try
        {
            var initiatorDelivery = initiator.WaitForDeliveryAsync(linger, _time, cancellationToken);
            var responderDelivery = responder.WaitForDeliveryAsync(linger, _time, cancellationToken);
            toInitiator = await initiatorDelivery.ConfigureAwait(false);
            toResponder = await responderDelivery.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            initiator.Abort();
            responder.Abort();
            return "canceled";
        }

        if (toInitiator == 0 && toResponder == 0)
        {
            return "completed";
        }

        ProtocolLog.SessionTruncated(_logger, initiator.RemoteEndPoint, toInitiator, responder.RemoteEndPoint, toResponder, linger);
        if (toInitiator > 0)
        {
            initiator.Abort();
        }

        if (toResponder > 0)
        {
            responder.Abort();
        }

        return "truncated";
    }

    /// <summary>The key an initiator's session is counted under, or <see langword="null"/> when it is not counted (unknown address or cookie).</summary>
    private string? SessionKey(RelayConnection connection, string cookie)
    {
        return (connection.RemoteEndPoint as IPEndPoint)?.Address is { } remote && _broker.FindInitiatorUuid(cookie) is { } uuid
            ? uuid + " " + ClientAddressKey.Of(remote)
            : null;
    }

    /// <summary>Waits for a responder to pair with, watching the initiator meanwhile.</summary>
    /// <returns>Why there is no pairing, or the responder and the bytes the initiator sent while it waited.</returns>
    private async ValueTask<(InitiateStatus Status, ParkedResponder? Parked, ReadOnlyMemory<byte> Kept)> WaitForResponderAsync(
        RelayConnection connection,
        string cookie,
        CancellationToken cancellationToken)
    {
        // Most initiators find their responder parked already: pair at once, without watching the initiator
        // (there is no waiting to stop). What it sent after its line stays in its input, to be spliced.
        var immediate = _broker.TryInitiate(cookie);
        if (immediate is { Status: InitiateStatus.NotRegistered } && await _directory.TryAdoptAsync(cookie, cancellationToken).ConfigureAwait(false))
        {
            // A registration issued by another node that parks here: the broker holds it now.
            immediate = _broker.TryInitiate(cookie);
        }

        if (immediate is { } now)
        {
            if (now.Responder is not { } ready)
            {
                return (now.Status, null, default);
            }

            if (await ready.StopWatchingAsync().ConfigureAwait(false) is not (WatchEnd.Ended or WatchEnd.Failed))
            {
                if (ready.Uuid is { } pairedUuid)
                {
                    _advisor?.InitiatorArrived(pairedUuid);
                }

                return (InitiateStatus.Paired, ready, default);
            }

            // Its peer left just before it was taken: drop it, and wait for the next one below.
            ready.Connection.Abort();
            await ready.Connection.DisposeAsync().ConfigureAwait(false);
        }

        // No responder parked: demand the hidden server's pool did not cover.
        var starvedUuid = _advisor is { IsEnabled: true } ? _broker.FindInitiatorUuid(cookie) : null;
        if (starvedUuid is not null)
        {
            _advisor!.InitiatorArrived(starvedUuid);
        }

        // Watch the initiator while it waits, so one that is reset stops waiting. A clean half-close is
        // not a reason to give up: the initiator may have sent all it has and wait for the answer.
        using var leave = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watch = new ConnectionWatch(connection.Input, _options.CurrentValue.MaxBufferedBytesPerDirection);
        var stopWhenGone = watch.Completion.ContinueWith(
            static (gone, state) =>
            {
                if (gone.Result == WatchEnd.Failed)
                {
                    ((CancellationTokenSource)state!).Cancel();
                }
            },
            leave,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        var status = InitiateStatus.NotReady;
        ParkedResponder? paired = null;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                var result = await _broker.InitiateAsync(cookie, leave.Token).ConfigureAwait(false);
                status = result.Status;
                if (result.Status != InitiateStatus.Paired || result.Responder is not { } taken)
                {
                    break;
                }

                // A responder whose peer left just before it was taken must never be paired: drop it and
                // take the next one (a bounded number of times).
                if (await taken.StopWatchingAsync().ConfigureAwait(false) is WatchEnd.Ended or WatchEnd.Failed && attempt < MaxDeadResponderRetries)
                {
                    taken.Connection.Abort();
                    await taken.Connection.DisposeAsync().ConfigureAwait(false);
                    continue;
                }

                paired = taken;
                break;
            }
        }
        finally
        {
            await watch.StopAsync().ConfigureAwait(false);
            await stopWhenGone.ConfigureAwait(false);
        }

        if (starvedUuid is not null && status != InitiateStatus.NotRegistered)
        {
            _advisor!.InitiatorStarved(starvedUuid);
        }

        return (status, paired, paired is null ? default : watch.Kept);
    }
}
