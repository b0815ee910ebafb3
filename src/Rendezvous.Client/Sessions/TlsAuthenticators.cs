using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Protocol.Tls;

namespace Rendezvous.Client.Sessions;

/// <summary>
/// End-to-end TLS through the relay, hidden-server side: presents the hidden server's own certificate,
/// optionally requires a client certificate from an allowed set. The relay sees only ciphertext.
/// </summary>
public sealed class TlsHiddenServerAuthenticator : RendezvousAuthenticator
{
    private readonly X509Certificate2? _certificate;
    private readonly SslStreamCertificateContext? _certificateContext;
    private readonly HashSet<string> _allowedClients;

    /// <summary>Creates the authenticator.</summary>
    /// <param name="certificate">The hidden server's certificate, with its private key. Mobile clients pin its fingerprint.</param>
    /// <param name="allowedClientFingerprints">
    /// When not empty, a client certificate is required and its SHA-256 fingerprint must be one of these;
    /// when empty, no client certificate is asked for.
    /// </param>
    public TlsHiddenServerAuthenticator(X509Certificate2 certificate, IEnumerable<string>? allowedClientFingerprints = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException("The hidden server's certificate needs its private key.", nameof(certificate));
        }

        _certificate = certificate;
        _allowedClients = new HashSet<string>((allowedClientFingerprints ?? []).Select(CertificateFingerprint.Normalize), StringComparer.Ordinal);
    }

    /// <summary>
    /// Creates the authenticator with a certificate context, which also sends the certificate's intermediates.
    /// No client certificate is asked for.
    /// </summary>
    /// <param name="certificateContext">
    /// The hidden server's certificate with its private key and chain (for example from
    /// <c>Rendezvous.Server.Certificates.RegistrarCertificates.LoadPemWithChain</c>). Mobile clients pin the fingerprint of its
    /// <see cref="SslStreamCertificateContext.TargetCertificate"/>.
    /// </param>
    public TlsHiddenServerAuthenticator(SslStreamCertificateContext certificateContext)
    {
        ArgumentNullException.ThrowIfNull(certificateContext);
        _certificateContext = certificateContext;
        _allowedClients = [];
    }

    /// <inheritdoc />
    public override async ValueTask<Stream?> AuthenticateAsync(Stream transport, RendezvousSessionInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        var tls = new SslStream(transport, leaveInnerStreamOpen: false);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificate = _certificate,
            ServerCertificateContext = _certificateContext,
            ClientCertificateRequired = _allowedClients.Count > 0,

            // A resumed session carries no certificate of the client's. With TLS 1.3 a ticket can be issued before a
            // client's certificate is checked (and refused): a client resuming such a session would be refused again.
            AllowTlsResume = _allowedClients.Count == 0,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                _allowedClients.Count == 0 || (certificate is not null && _allowedClients.Contains(CertificateFingerprint.Compute(certificate))),
        };
        try
        {
            await tls.AuthenticateAsServerAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return tls;
    }
}

/// <summary>
/// End-to-end TLS through the relay, mobile-client side: pins the hidden server's certificate by its
/// SHA-256 fingerprint and optionally presents a client certificate.
/// </summary>
public sealed class TlsMobileClientAuthenticator : RendezvousAuthenticator
{
    private readonly string _pin;
    private readonly X509Certificate2? _clientCertificate;

    /// <summary>Creates the authenticator.</summary>
    /// <param name="hiddenServerFingerprint">The hidden server certificate's SHA-256 fingerprint.</param>
    /// <param name="clientCertificate">A certificate (with private key) to present when the hidden server asks for one.</param>
    public TlsMobileClientAuthenticator(string hiddenServerFingerprint, X509Certificate2? clientCertificate = null)
    {
        _pin = CertificateFingerprint.Normalize(hiddenServerFingerprint);
        _clientCertificate = clientCertificate;
    }

    /// <inheritdoc />
    public override async ValueTask<Stream?> AuthenticateAsync(Stream transport, RendezvousSessionInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(info);
        string? presented = null;
        var tls = new SslStream(transport, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = info.Uuid,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificates = _clientCertificate is null ? null : [_clientCertificate],

            // With a certificate, always present it: never resume a session that may have been made without it.
            AllowTlsResume = _clientCertificate is null,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is null)
                {
                    return false;
                }

                presented = CertificateFingerprint.Compute(certificate);
                return string.Equals(presented, _pin, StringComparison.Ordinal);
            },
        };
        try
        {
            await tls.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (AuthenticationException ex) when (presented is not null && !string.Equals(presented, _pin, StringComparison.Ordinal))
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw new CertificatePinMismatchException("hidden server", _pin, presented, ex);
        }
        catch
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return tls;
    }
}
