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
    private readonly RegistrarClient _registrar;
    private readonly TimeProvider _time;

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
        _registrar = new RegistrarClient(options.RegistrarUrl!, options.Trust, options.ConnectTimeout);
    }

    /// <summary>
    /// Connects to the hidden server registered as <paramref name="uuid"/>. When the relay answers
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
            var triple = await _registrar.LookupAsync(uuid, cancellationToken).ConfigureAwait(false);
            try
            {
                return await PairAsync(uuid, triple, cancellationToken).ConfigureAwait(false);
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
    public void Dispose() => _registrar.Dispose();
}
