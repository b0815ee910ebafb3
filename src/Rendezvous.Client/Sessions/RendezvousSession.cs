using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Client.Sessions;

/// <summary>Which side of a rendezvous a session is.</summary>
public enum RendezvousRole
{
    /// <summary>The hidden server's side: it parked and was paired.</summary>
    HiddenServer,

    /// <summary>The mobile client's side: it looked the UUID up and initiated.</summary>
    MobileClient,
}

/// <summary>Who a session is with, as far as the client knows, for logging and authentication decisions.</summary>
/// <param name="Uuid">The hidden server's UUID.</param>
/// <param name="Role">This side's role.</param>
/// <param name="RelayEndPoint">The rendezvous relay the session runs through.</param>
public sealed record RendezvousSessionInfo(string Uuid, RendezvousRole Role, EndPoint? RelayEndPoint);

/// <summary>
/// A paired session: a byte stream to the peer through the relay, as a <see cref="System.IO.Stream"/> and
/// an <see cref="IDuplexPipe"/>. With an authenticator such as TLS, both carry the authenticated
/// (decrypted) bytes. Dispose it to close the session.
/// </summary>
public sealed class RendezvousSession : IAsyncDisposable
{
    private readonly Socket _socket;
    private IDuplexPipe? _pipe;
    private SslStream? _tls;
    private TlsShutdownGate? _tlsGate;
    private int _sendingCompleted;

    internal RendezvousSession(Socket socket, Stream stream, RendezvousSessionInfo info)
    {
        _socket = socket;
        Stream = stream;
        Info = info;
    }

    /// <summary>The session's bytes. Reading 0 bytes means the peer finished sending.</summary>
    public Stream Stream { get; private set; }

    /// <summary>The same bytes as a pipe (created on first use; use either this or <see cref="Stream"/>).</summary>
    public IDuplexPipe Pipe => _pipe ??= new StreamDuplexPipe(
        PipeReader.Create(Stream, new StreamPipeReaderOptions(leaveOpen: true)),
        PipeWriter.Create(Stream, new StreamPipeWriterOptions(leaveOpen: true)));

    /// <summary>Whether <see cref="CompleteSendingAsync"/> sent a TLS close_notify before its FIN.</summary>
    internal bool CloseNotifySent { get; private set; }

    /// <summary>Who the session is with.</summary>
    public RendezvousSessionInfo Info { get; }

    /// <summary>The peer's certificate when the session was authenticated with TLS; otherwise <see langword="null"/>.</summary>
    public X509Certificate? PeerCertificate => _tls?.RemoteCertificate;

    /// <summary>
    /// Ends this side's sending direction (a half-close: TLS close_notify, then TCP FIN) while the
    /// peer may go on sending. Flush a <see cref="Pipe"/> writer before calling it.
    /// </summary>
    /// <returns>A task that completes when the half-close was sent.</returns>
    public async ValueTask CompleteSendingAsync()
    {
        if (Interlocked.Exchange(ref _sendingCompleted, 1) != 0)
        {
            return;
        }

        try
        {
            if (_tls is { } tls)
            {
                await _tlsGate!.ShutdownAsync(tls).ConfigureAwait(false);
                CloseNotifySent = true;
            }

            await Stream.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // No close_notify: the session is gone, or TLS refused to make one. With TLS 1.3 a client learns only
            // after its handshake that the server refused its certificate: OpenSSL then refuses the close_notify
            // ("shutdown while in init"), and the next read reports the failure. OpenSSL's own errors are not all of
            // a public type, hence the wide catch; the FIN below still ends this direction.
        }
        finally
        {
            // Always the FIN, so the peer never waits for an end that will not come: a TLS peer reads a clean end
            // of stream between records as the end of the session.
            try
            {
                _socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The session is already gone; nothing left to end.
            }
        }
    }

    /// <summary>Tears the session down at once (TCP reset); the peer sees an error, not a clean end.</summary>
    public void Abort() => _socket.ResetAndDispose();

    /// <summary>Closes the session.</summary>
    /// <returns>A task that completes when closed.</returns>
    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }

    /// <summary>Runs <paramref name="authenticator"/> over the raw stream; on success the session's stream becomes the one it returns.</summary>
    internal async Task AuthenticateAsync(RendezvousAuthenticator authenticator, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var gate = new TlsShutdownGate();
        Stream? authenticated;
        try
        {
            authenticated = await authenticator.AuthenticateAsync(gate.Transport(Stream), Info, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RendezvousException(RendezvousError.Timeout, $"Authenticating the session did not finish within {timeout.TotalSeconds:0.#} s.", ex);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
        {
            throw new RendezvousException(RendezvousError.AuthenticationFailed, $"Authenticating the session failed: {ex.Message}", ex);
        }

        if (authenticated is SslStream tls)
        {
            _tls = tls;
            _tlsGate = gate;
            Stream = gate.Session(tls);
            return;
        }

        Stream = authenticated ?? throw new RendezvousException(RendezvousError.AuthenticationFailed, "The session was rejected by its authenticator.");
    }

    private sealed class StreamDuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
