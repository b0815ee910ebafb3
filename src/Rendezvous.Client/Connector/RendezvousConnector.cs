using System.Net.Sockets;
using Rendezvous.Client.Internal;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;

namespace Rendezvous.Client.Connector;

/// <summary>
/// The mobile-client side: reaches a hidden server knowing only its UUID. Looks the UUID up at the
/// registrar, connects to the relay it names, sends the <c>I</c> line, waits for <c>+OK</c> and returns
/// the session (authenticated, when an authenticator is configured).
/// </summary>
public sealed class RendezvousConnector : IDisposable
{
    /// <summary>The first wait before a retry after <c>-ERR not ready</c>.</summary>
    private static readonly TimeSpan FirstNotReadyWait = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between retries after <c>-ERR not ready</c>.</summary>
    private static readonly TimeSpan LongestNotReadyWait = TimeSpan.FromSeconds(2);

    private readonly RendezvousConnectorOptions _options;
    private readonly RegistrarSet _registrars;
    private readonly TimeProvider _time;
    private long _fallbacks;

    /// <summary>Creates a connector.</summary>
    /// <param name="options">Registrar, trust, timeouts, retries and authentication.</param>
    /// <param name="time">The clock for the waits between retries; the system clock when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    public RendezvousConnector(RendezvousConnectorOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = time ?? TimeProvider.System;
        _registrars = new RegistrarSet(options.AllRegistrarUrls(), options.Trust, options.ConnectTimeout);
    }

    /// <summary>
    /// How many times a try moved on from a relay to the next of the triple's alternates (the owner relay unreachable,
    /// closed or reset before <c>+OK</c>, or answering <c>-ERR not ready</c> or <c>-ERR not registered</c>).
    /// </summary>
    public long Fallbacks => Interlocked.Read(ref _fallbacks);

    /// <summary>The registrar that answered last, of <see cref="RendezvousConnectorOptions.RegistrarUrl"/> and <see cref="RendezvousConnectorOptions.RegistrarUrls"/>.</summary>
    public Uri CurrentRegistrar => _registrars.Current;

    /// <summary>
    /// Connects to the hidden server registered as <paramref name="uuid"/>. When the lookup names alternate relays (a
    /// cluster), a try that fails at the owner relay before <c>+OK</c> (unreachable, closed or reset, <c>not ready</c>,
    /// <c>not registered</c>) goes on to the alternates in order, with the same cookie, before it counts as failed. When the relay answers
    /// <c>-ERR not ready</c> (all the hidden server's parked connections taken for the moment), looks the
    /// UUID up and connects again after a short jittered wait, up to
    /// <see cref="RendezvousConnectorOptions.NotReadyRetries"/> times within
    /// <see cref="RendezvousConnectorOptions.NotReadyRetryBudget"/>.
    /// </summary>
    /// <param name="uuid">The hidden server's UUID.</param>
    /// <param name="cancellationToken">Cancels the attempt, including a wait between retries.</param>
    /// <returns>The session; dispose it to close.</returns>
    /// <exception cref="RendezvousException">
    /// <see cref="RendezvousError.NotRegistered"/> (unknown UUID or hidden server offline),
    /// <see cref="RendezvousError.NotReady"/> (after the retries), <see cref="RendezvousError.Timeout"/>,
    /// <see cref="RendezvousError.CertificateMismatch"/> (registrar or hidden server pin), and others.
    /// </exception>
    public async Task<RendezvousSession> ConnectAsync(string uuid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        var started = _time.GetTimestamp();
        Backoff? backoff = null;
        for (var tries = 1; ; tries++)
        {
            var triple = await _registrars.LookupAsync(uuid, cancellationToken).ConfigureAwait(false);
            try
            {
                return await PairAnyAsync(uuid, triple, cancellationToken).ConfigureAwait(false);
            }
            catch (RendezvousException ex) when (ex.Error == RendezvousError.NotReady)
            {
                backoff ??= new Backoff(FirstNotReadyWait, LongestNotReadyWait);
                var wait = backoff.Next();
                var elapsed = _time.GetElapsedTime(started);
                if (tries > _options.NotReadyRetries || elapsed + wait > _options.NotReadyRetryBudget)
                {
                    throw new RendezvousException(
                        RendezvousError.NotReady,
                        $"The hidden server {uuid} is registered but had no free parked connection at the relay {triple} after {Tries(tries)} over {elapsed.TotalSeconds:0.0} s. A hidden server that serves many clients at once needs more connections parked (expose --pool, HiddenServerAgentOptions.PoolSize).",
                        ex);
                }

                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Pairs at the owner relay, and on a failure before <c>+OK</c> at each alternate in turn (one at a time, not a
    /// race: two relays that both paired would spend two of the hidden server's parked connections on one client).
    /// When every relay failed, throws <c>not ready</c> if one answered it (the hidden server is there; retrying may
    /// help), otherwise the owner's failure.
    /// </summary>
    private async Task<RendezvousSession> PairAnyAsync(string uuid, RendezvousTriple triple, CancellationToken cancellationToken)
    {
        if (triple.Alternates.Count == 0)
        {
            return await PairAsync(uuid, triple, cancellationToken).ConfigureAwait(false);
        }

        RendezvousException? notReady = null;
        RendezvousException? owners = null;
        var relays = triple.Relays();
        for (var i = 0; i < relays.Count; i++)
        {
            try
            {
                return await PairAsync(uuid, triple with { Host = relays[i].Host, Port = relays[i].Port }, cancellationToken).ConfigureAwait(false);
            }
            catch (RendezvousException ex) when (ex.Error is RendezvousError.Transport or RendezvousError.Timeout or RendezvousError.NotReady or RendezvousError.NotRegistered
                && !cancellationToken.IsCancellationRequested)
            {
                owners ??= ex;
                if (ex.Error == RendezvousError.NotReady)
                {
                    notReady ??= ex;
                }

                if (i + 1 < relays.Count)
                {
                    Interlocked.Increment(ref _fallbacks);
                }
            }
        }

        throw notReady ?? owners!;
    }

    private static string Tries(int tries) => tries == 1 ? "1 try" : $"{tries} tries";

    /// <summary>One try: connects to the relay the lookup named, sends the <c>I</c> line and waits for <c>+OK</c>.</summary>
    private async Task<RendezvousSession> PairAsync(string uuid, RendezvousTriple triple, CancellationToken cancellationToken)
    {
        var socket = await RelayHandshake.ConnectAndSendLineAsync(triple, _options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
        RendezvousSession? session = null;
        try
        {
            string? reply;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                deadline.CancelAfter(_options.PairingTimeout);
                try
                {
                    reply = await RelayHandshake.ReadReplyAsync(socket, deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new RendezvousException(RendezvousError.Timeout, $"The relay at {triple} did not pair us within {_options.PairingTimeout.TotalSeconds:0.#} s.", ex);
                }
                catch (SocketException ex)
                {
                    throw new RendezvousException(RendezvousError.Transport, $"The relay at {triple} broke the connection: {ex.Message}", ex);
                }
            }

            if (reply != "+OK")
            {
                throw RelayHandshake.Refusal(reply, triple);
            }

            session = new RendezvousSession(socket, new NetworkStream(socket, ownsSocket: false), new RendezvousSessionInfo(uuid, RendezvousRole.MobileClient, RelayHandshake.TryGetRemoteEndPoint(socket)));
            if (_options.Authenticator is { } authenticator)
            {
                await session.AuthenticateAsync(authenticator, _options.AuthenticationTimeout, cancellationToken).ConfigureAwait(false);
            }

            return session;
        }
        catch
        {
            if (session is not null)
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }

            socket.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _registrars.Dispose();
}
