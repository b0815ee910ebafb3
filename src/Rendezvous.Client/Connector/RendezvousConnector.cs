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
    private readonly RendezvousConnectorOptions _options;
    private readonly RegistrarClient _registrar;

    /// <summary>Creates a connector.</summary>
    /// <param name="options">Registrar, trust, timeouts and authentication.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message names each problem.</exception>
    public RendezvousConnector(RendezvousConnectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _registrar = new RegistrarClient(options.RegistrarUrl!, options.Trust, options.ConnectTimeout);
    }

    /// <summary>Connects to the hidden server registered as <paramref name="uuid"/>.</summary>
    /// <param name="uuid">The hidden server's UUID.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    /// <returns>The session; dispose it to close.</returns>
    /// <exception cref="RendezvousException">
    /// <see cref="RendezvousError.NotRegistered"/> (unknown UUID or hidden server offline),
    /// <see cref="RendezvousError.NotReady"/>, <see cref="RendezvousError.Timeout"/>,
    /// <see cref="RendezvousError.CertificateMismatch"/> (registrar or hidden server pin), and others.
    /// </exception>
    public async Task<RendezvousSession> ConnectAsync(string uuid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        var triple = await _registrar.LookupAsync(uuid, cancellationToken).ConfigureAwait(false);
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
