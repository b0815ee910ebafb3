using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Tests.Common;

/// <summary>A self-signed certificate whose extended key usage is client authentication only, written as PEM files.</summary>
public static class ClientOnlyCertificate
{
    /// <summary>Writes <c>client-only.crt</c> and <c>client-only.key</c> into <paramref name="directory"/>.</summary>
    /// <returns>The two paths.</returns>
    public static (string CertificatePath, string KeyPath) Write(string directory)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=client only", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var certificatePath = Path.Combine(directory, "client-only.crt");
        var keyPath = Path.Combine(directory, "client-only.key");
        RegistrarCertificates.WritePem(certificate, certificatePath, keyPath);
        return (certificatePath, keyPath);
    }
}
