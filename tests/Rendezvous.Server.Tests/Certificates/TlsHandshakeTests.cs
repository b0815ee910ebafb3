using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Certificates;

public class TlsHandshakeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public async Task Client_pinning_the_fingerprint_completes_a_handshake_with_the_stored_certificate()
    {
        RegistrarCertificateResult created = RegistrarCertificates.LoadOrCreate(_directory.Path, []);
        created.Certificate.Dispose();
        using X509Certificate2 serverCertificate = RegistrarCertificates.LoadPem(created.CertificatePath, created.KeyPath);

        byte[] received = await HandshakeAndExchangeAsync(serverCertificate, created.Sha256Fingerprint.ToLowerInvariant());

        Assert.That(received, Is.EqualTo(new byte[] { 42 }));
    }

    [Test]
    public void Client_pinning_another_fingerprint_refuses_the_certificate()
    {
        using X509Certificate2 serverCertificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        using X509Certificate2 other = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));

        Assert.ThrowsAsync<AuthenticationException>(
            () => HandshakeAndExchangeAsync(serverCertificate, RegistrarCertificates.GetSha256Fingerprint(other)));
    }

    /// <summary>Runs a TLS server with the certificate on loopback, connects a client pinning
    /// <paramref name="pin"/>, and has the server send one byte, which is returned.</summary>
    private static async Task<byte[]> HandshakeAndExchangeAsync(X509Certificate2 serverCertificate, string pin)
    {
        string expected = RegistrarCertificates.NormalizeFingerprint(pin);
        using var cts = new CancellationTokenSource(Timeout);
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            Task server = ServeOneAsync(listener, serverCertificate, cts.Token);

            using var client = new TcpClient(AddressFamily.InterNetwork);
            await client.ConnectAsync(IPAddress.Loopback, port, cts.Token).AsTask().WaitAsync(Timeout);
            await using var tls = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
            var options = new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is X509Certificate2 presented
                    && RegistrarCertificates.GetSha256Fingerprint(presented) == expected,
            };

            try
            {
                await tls.AuthenticateAsClientAsync(options, cts.Token).WaitAsync(Timeout);
            }
            catch
            {
                // Let the server side see the connection end before the listener goes.
                client.Close();
                await Task.WhenAny(server).WaitAsync(Timeout);
                throw;
            }

            byte[] buffer = new byte[1];
            await tls.ReadExactlyAsync(buffer, cts.Token).AsTask().WaitAsync(Timeout);
            await server.WaitAsync(Timeout);
            return buffer;
        }
        finally
        {
            listener.Stop();
        }
    }

    private static async Task ServeOneAsync(TcpListener listener, X509Certificate2 certificate, CancellationToken cancellationToken)
    {
        using TcpClient accepted = await listener.AcceptTcpClientAsync(cancellationToken).AsTask().WaitAsync(Timeout, cancellationToken);
        await using var tls = new SslStream(accepted.GetStream(), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsServerAsync(
            new SslServerAuthenticationOptions { ServerCertificate = certificate }, cancellationToken).WaitAsync(Timeout, cancellationToken);
        await tls.WriteAsync(new byte[] { 42 }, cancellationToken).AsTask().WaitAsync(Timeout, cancellationToken);
        await tls.FlushAsync(cancellationToken).WaitAsync(Timeout, cancellationToken);
    }
}
