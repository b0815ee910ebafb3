using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Server.Internal;

/// <summary>
/// The certificate the registrar and the admin page serve: the configured PEM pair with the intermediates that
/// follow it in its file, or the one generated in the data directory. Built offline: nothing is fetched at start.
/// </summary>
internal static class WebCertificate
{
    private const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>Loads (or, without a configured pair, creates) the certificate.</summary>
    /// <param name="server">Where the configured pair or the data directory is.</param>
    /// <param name="publicHost">A name the generated certificate must also be valid for; <see langword="null"/> for none.</param>
    /// <param name="time">The clock for a generated certificate's validity.</param>
    /// <returns>The context (the caller owns its target certificate), the certificate file's full path, and whether it was generated now.</returns>
    /// <exception cref="InvalidDataException">
    /// A configured file is not usable, or its certificate's extended key usage leaves out server authentication; the message names the file.
    /// </exception>
    public static (SslStreamCertificateContext Context, string Path, bool Created) Load(RendezvousServerOptions server, string? publicHost, TimeProvider time)
    {
        if (!string.IsNullOrEmpty(server.CertificatePath) && !string.IsNullOrEmpty(server.KeyPath))
        {
            var path = Path.GetFullPath(server.CertificatePath);
            var loaded = RegistrarCertificates.LoadPemWithChain(path, server.KeyPath);
            try
            {
                EnsureServerAuthentication(loaded.TargetCertificate, path);
            }
            catch
            {
                loaded.TargetCertificate.Dispose();
                throw;
            }

            return (loaded, path, false);
        }

        string[] names = publicHost is { Length: > 0 } host ? [host] : [];
        var result = RegistrarCertificates.LoadOrCreate(server.DataDirectory, names, time);
        return (SslStreamCertificateContext.Create(result.Certificate, additionalCertificates: null, offline: true), result.CertificatePath, result.Created);
    }

    /// <summary>
    /// Refuses a certificate whose extended key usage leaves out TLS server authentication: browsers, curl and every
    /// client that validates the chain reject it (Kestrel makes the same check when it is handed a certificate itself).
    /// </summary>
    private static void EnsureServerAuthentication(X509Certificate2 certificate, string path)
    {
        foreach (var extension in certificate.Extensions)
        {
            if (extension is X509EnhancedKeyUsageExtension usage
                && !usage.EnhancedKeyUsages.Cast<Oid>().Any(oid => oid.Value == ServerAuthenticationOid))
            {
                throw new InvalidDataException(
                    $"The certificate in '{path}' may not be used by a TLS server: its extended key usage does not include " +
                    $"server authentication ({ServerAuthenticationOid}). Use a certificate issued for a server.");
            }
        }
    }
}
