using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using NUnit.Framework;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A CA-issued certificate as an operator gets it: a root CA, an intermediate it signed and a leaf for
/// <c>localhost</c> and <c>127.0.0.1</c> signed by the intermediate (ECDSA P-256, all with their keys), made in
/// memory for the test; the root is in no store, so only a server that sends the intermediate lets a chain build.
/// Owns a temporary directory for the PEM files, deleted on dispose.
/// </summary>
public sealed class TestCertificateChain : IDisposable
{
    private const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    private readonly TemporaryDirectory _directory = new();

    private TestCertificateChain(X509Certificate2 root, X509Certificate2 intermediate, X509Certificate2 leaf)
    {
        Root = root;
        Intermediate = intermediate;
        Leaf = leaf;
    }

    /// <summary>The self-signed root CA.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>The intermediate CA, signed by <see cref="Root"/>.</summary>
    public X509Certificate2 Intermediate { get; }

    /// <summary>The server certificate, signed by <see cref="Intermediate"/>.</summary>
    public X509Certificate2 Leaf { get; }

    /// <summary>Creates the three certificates, valid from a day ago for a day.</summary>
    public static TestCertificateChain Create()
    {
        // Whole seconds: a certificate's times carry none, and an issued one may not outlive its issuer.
        DateTimeOffset now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        DateTimeOffset notBefore = now.AddDays(-1);
        DateTimeOffset notAfter = notBefore.AddDays(2);

        using ECDsa rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest rootRequest = CaRequest("Rendezvous Test Root", rootKey, pathLength: 1);
        X509Certificate2 root = rootRequest.CreateSelfSigned(notBefore, notAfter);

        using ECDsa intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest intermediateRequest = CaRequest("Rendezvous Test Intermediate", intermediateKey, pathLength: 0);
        X509Certificate2 intermediate = Issue(intermediateRequest, root, intermediateKey, notBefore, notAfter);

        using ECDsa leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=localhost", leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForEndEntity(critical: true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthenticationOid)], critical: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        leafRequest.CertificateExtensions.Add(names.Build());
        X509Certificate2 leaf = Issue(leafRequest, intermediate, leafKey, notBefore, notAfter);

        return new TestCertificateChain(root, intermediate, leaf);
    }

    /// <summary>
    /// Writes <c>fullchain.pem</c> (the leaf, then the intermediate, as Let's Encrypt does) and <c>key.pem</c>
    /// (the leaf's PKCS#8 key) into a temporary directory.
    /// </summary>
    public (string CertificatePath, string KeyPath) WriteFullChain()
    {
        string certificatePath = _directory.Combine("fullchain.pem");
        string keyPath = _directory.Combine("key.pem");
        File.WriteAllText(certificatePath, Leaf.ExportCertificatePem() + "\n" + Intermediate.ExportCertificatePem() + "\n");
        using ECDsa key = Leaf.GetECDsaPrivateKey()!;
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
        return (certificatePath, keyPath);
    }

    /// <summary>
    /// Whether the leaf's chain up to <see cref="Root"/> builds from <paramref name="sent"/> alone: only the root is
    /// trusted, nothing is downloaded, so the intermediate has to be among the certificates the server sent.
    /// </summary>
    public bool BuildsFrom(IEnumerable<X509Certificate2> sent)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Root);
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ExtraStore.AddRange(sent.ToArray());
        using X509Certificate2 leaf = X509CertificateLoader.LoadCertificate(Leaf.RawData);
        return chain.Build(leaf) && chain.ChainElements.Count == 3;
    }

    /// <summary>
    /// Connects to a TLS server on <paramref name="endPoint"/> and returns the certificates it sent in the handshake
    /// (its own and those it added for the chain; copies the caller disposes). Accepts whatever it is sent.
    /// </summary>
    public static async Task<List<X509Certificate2>> GetSentCertificatesAsync(IPEndPoint endPoint, CancellationToken cancellationToken = default)
    {
        var sent = new List<X509Certificate2>();
        using var client = new TcpClient(endPoint.AddressFamily);
        await client.ConnectAsync(endPoint, cancellationToken).AsTask().WaitAsync(TestTimeouts.Short, cancellationToken);
        await using var tls = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                // SslStream puts what the server sent, beyond its own certificate, into the chain's extra store.
                if (certificate is not null)
                {
                    sent.Add(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
                }

                foreach (X509Certificate2 extra in chain?.ChainPolicy.ExtraStore ?? [])
                {
                    sent.Add(X509CertificateLoader.LoadCertificate(extra.RawData));
                }

                return true;
            },
        };
        await tls.AuthenticateAsClientAsync(options, cancellationToken).WaitAsync(TestTimeouts.Short, cancellationToken);
        return sent;
    }

    /// <summary>
    /// Accepts one loopback connection, hands its stream to <paramref name="serveOne"/> (which does the server side
    /// of the handshake) and returns what the server sent, as <see cref="GetSentCertificatesAsync(IPEndPoint, CancellationToken)"/>.
    /// </summary>
    public static async Task<List<X509Certificate2>> GetSentCertificatesAsync(Func<Stream, CancellationToken, Task> serveOne, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TestTimeouts.Short);
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            async Task ServeAsync()
            {
                using TcpClient accepted = await listener.AcceptTcpClientAsync(cts.Token).AsTask().WaitAsync(TestTimeouts.Short, cts.Token);
                await serveOne(accepted.GetStream(), cts.Token).WaitAsync(TestTimeouts.Short, cts.Token);
            }

            Task server = ServeAsync();
            List<X509Certificate2> sent = await GetSentCertificatesAsync((IPEndPoint)listener.LocalEndpoint, cts.Token);
            await server.WaitAsync(TestTimeouts.Short, cts.Token);
            return sent;
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>
    /// Asserts that <paramref name="sent"/> (from <c>GetSentCertificatesAsync</c>) holds the intermediate and that the
    /// chain builds from it trusting only the root; then disposes the certificates.
    /// </summary>
    public void AssertIntermediateSent(List<X509Certificate2> sent, string server)
    {
        try
        {
            Assert.Multiple(() =>
            {
                Assert.That(sent.Select(c => c.Thumbprint), Does.Contain(Intermediate.Thumbprint), $"{server} sent the intermediate");
                Assert.That(BuildsFrom(sent), Is.True, $"the chain builds from what {server} sent, trusting only the root");
            });
        }
        finally
        {
            sent.ForEach(c => c.Dispose());
        }
    }

    public void Dispose()
    {
        Leaf.Dispose();
        Intermediate.Dispose();
        Root.Dispose();
        _directory.Dispose();
    }

    private static CertificateRequest CaRequest(string name, ECDsa key, int pathLength)
    {
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(
            certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: pathLength, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request;
    }

    private static X509Certificate2 Issue(CertificateRequest request, X509Certificate2 issuer, ECDsa key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(
            issuer, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using X509Certificate2 issued = request.Create(issuer, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }
}
