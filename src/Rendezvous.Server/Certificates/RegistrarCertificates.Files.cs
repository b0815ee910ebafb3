using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Rendezvous.Server.Certificates;

public static partial class RegistrarCertificates
{
    /// <summary>
    /// Creates a self-signed certificate (see <see cref="CreateSelfSigned"/>) and writes it with its private key as PEM
    /// files (see <see cref="WritePem(X509Certificate2, string, string)"/>: key mode 0600, certificate 0644, written
    /// atomically, missing directories created with mode 0700), as node-rendezvous's make-cert.js did.
    /// </summary>
    /// <param name="certificatePath">Where to write the certificate, e.g. <c>registrar.crt</c>.</param>
    /// <param name="keyPath">Where to write the private key, e.g. <c>registrar.key</c>.</param>
    /// <param name="commonName">The subject common name; also added as the first subject alternative name.</param>
    /// <param name="subjectAlternativeNames">Further names (host names or IP addresses) the certificate is valid for.</param>
    /// <param name="validity">How long the certificate is valid from now; must be positive.</param>
    /// <param name="overwrite">
    /// Whether existing files are replaced. Without it, nothing is written when either path exists, and a file that
    /// appears meanwhile is not replaced either.
    /// </param>
    /// <param name="time">The clock; defaults to <see cref="TimeProvider.System"/>.</param>
    /// <returns>
    /// The certificate with its private key (the caller owns and disposes it), its fingerprint, the two full paths, and
    /// <see cref="RegistrarCertificateResult.Created"/> <see langword="true"/>.
    /// </returns>
    /// <exception cref="ArgumentException">A name is not a valid DNS name or IP address, or a path is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="validity"/> is not positive.</exception>
    /// <exception cref="CertificateFileExistsException">A path exists and <paramref name="overwrite"/> is not set; nothing was written.</exception>
    /// <exception cref="IOException">A file could not be written.</exception>
    /// <exception cref="UnauthorizedAccessException">A file or directory may not be written by this user.</exception>
    public static RegistrarCertificateResult CreatePemFiles(
        string certificatePath,
        string keyPath,
        string commonName,
        IEnumerable<string> subjectAlternativeNames,
        TimeSpan validity,
        bool overwrite = false,
        TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(certificatePath);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(commonName);
        ArgumentNullException.ThrowIfNull(subjectAlternativeNames);
        certificatePath = Path.GetFullPath(certificatePath);
        keyPath = Path.GetFullPath(keyPath);
        if (!overwrite)
        {
            ThrowIfExists(certificatePath);
            ThrowIfExists(keyPath);
        }

        X509Certificate2 certificate = CreateSelfSigned(commonName, [commonName, .. subjectAlternativeNames], validity, time);
        try
        {
            WritePem(certificate, certificatePath, keyPath, overwrite);
        }
        catch (IOException) when (!overwrite && (PathExists(certificatePath) || PathExists(keyPath)))
        {
            certificate.Dispose();
            ThrowIfExists(certificatePath);
            ThrowIfExists(keyPath);
            throw;
        }
        catch
        {
            certificate.Dispose();
            throw;
        }

        return new RegistrarCertificateResult(certificate, GetSha256Fingerprint(certificate), certificatePath, keyPath, Created: true);
    }

    /// <summary>
    /// Loads a certificate, without a private key, to look at it: the first <c>CERTIFICATE</c> block of a PEM file
    /// (further blocks, such as the intermediates of a <c>fullchain.pem</c>, are ignored), or a DER-encoded certificate.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <returns>The certificate. The caller owns and disposes it.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist; the message names it.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read; the message names it.</exception>
    /// <exception cref="IOException">The file could not be read; the message names it.</exception>
    /// <exception cref="InvalidDataException">The file holds no certificate (a key file, for example); the message names it and what would be accepted.</exception>
    public static X509Certificate2 LoadCertificateFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        path = Path.GetFullPath(path);
        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"There is no file '{path}'.", path, ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new UnauthorizedAccessException($"Cannot read '{path}': {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            throw new IOException($"Cannot read '{path}': {ex.Message}", ex);
        }

        return TryLoadCertificate(content) ?? throw new InvalidDataException(
            $"'{path}' holds no certificate: expected a PEM file with a {CertificateBegin} block (like {CertificateFileName}), " +
            "or a DER certificate; a key file (.key) holds none.");
    }

    /// <summary>Describes a certificate for people: its fingerprint, subject, names, issuer and validity.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The description; see <see cref="RegistrarCertificateDescription.ToFields"/> to print it.</returns>
    public static RegistrarCertificateDescription Describe(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        List<string> names = [];
        if (certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault() is { } san)
        {
            names.AddRange(san.EnumerateDnsNames());
            names.AddRange(san.EnumerateIPAddresses().Select(address => address.ToString()));
        }

        return new RegistrarCertificateDescription(
            GetSha256Fingerprint(certificate),
            certificate.Subject,
            names,
            certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData) ? null : certificate.Issuer,
            new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero),
            new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero));
    }

    private static bool PathExists(string path) => File.Exists(path) || Directory.Exists(path);

    private static void ThrowIfExists(string path)
    {
        if (PathExists(path))
        {
            throw new CertificateFileExistsException(path);
        }
    }

    /// <summary>The first certificate of a PEM file, or a DER certificate; <see langword="null"/> when there is none.</summary>
    private static X509Certificate2? TryLoadCertificate(byte[] content)
    {
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(content);
        }
        catch (ArgumentException)
        {
            text = string.Empty;
        }

        ReadOnlySpan<char> rest = text;
        while (PemEncoding.TryFind(rest, out PemFields fields))
        {
            if (rest[fields.Label].SequenceEqual("CERTIFICATE"))
            {
                return TryLoadDer(Convert.FromBase64String(rest[fields.Base64Data].ToString()));
            }

            rest = rest[fields.Location.End..];
        }

        return text.Contains("-----BEGIN", StringComparison.Ordinal) ? null : TryLoadDer(content);
    }

    private static X509Certificate2? TryLoadDer(byte[] der)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}
