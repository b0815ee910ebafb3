using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Rendezvous.Server.Certificates;

public static partial class RegistrarCertificates
{
    private const UnixFileMode PrivateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode PublicFileMode = PrivateFileMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private const UnixFileMode PrivateDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private const string CertificateBegin = "-----BEGIN CERTIFICATE-----";

    /// <summary>
    /// Writes a certificate and its private key as PEM files, replacing any existing files.
    /// </summary>
    /// <param name="certificate">The certificate; must have its private key.</param>
    /// <param name="certificatePath">Where to write the certificate (<c>CERTIFICATE</c> PEM), with mode 0644 on Unix.</param>
    /// <param name="keyPath">Where to write the unencrypted PKCS#8 private key (<c>PRIVATE KEY</c> PEM), with mode 0600 on Unix.</param>
    /// <remarks>
    /// Each file is written to a temporary file in the same directory, which is created with its
    /// final mode before any byte is written and then renamed over the target, so a reader never
    /// sees a partial file and the key is never readable by others, even for an instant. Missing
    /// directories are created; on Unix, with mode 0700.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="certificate"/> has no private key, or a path is empty.</exception>
    /// <exception cref="IOException">A file could not be written.</exception>
    public static void WritePem(X509Certificate2 certificate, string certificatePath, string keyPath) =>
        WritePem(certificate, certificatePath, keyPath, overwrite: true);

    /// <summary>
    /// <see cref="WritePem(X509Certificate2, string, string)"/>; without <paramref name="overwrite"/>, a file that appears at
    /// a target path meanwhile is never replaced (the rename fails) and a key written for it is taken back.
    /// </summary>
    private static void WritePem(X509Certificate2 certificate, string certificatePath, string keyPath, bool overwrite)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentException.ThrowIfNullOrWhiteSpace(certificatePath);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPath);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException(
                $"The certificate '{certificate.Subject}' has no private key, so no key file can be written.", nameof(certificate));
        }

        string certificatePem = certificate.ExportCertificatePem() + "\n";
        char[] keyPem = ExportPrivateKeyPem(certificate);
        try
        {
            // The key first: a certificate without its key would make the pair look incomplete.
            WriteFileAtomically(Path.GetFullPath(keyPath), keyPem, PrivateFileMode, overwrite);
            try
            {
                WriteFileAtomically(Path.GetFullPath(certificatePath), certificatePem.AsSpan(), PublicFileMode, overwrite);
            }
            catch when (!overwrite)
            {
                // The key was written by this call (it did not exist before), so a failed pair leaves nothing behind.
                TryDelete(Path.GetFullPath(keyPath));
                throw;
            }
        }
        finally
        {
            Array.Clear(keyPem);
        }
    }

    /// <summary>
    /// Loads a certificate and its private key from PEM files, ready for use as a TLS server
    /// certificate (for example by Kestrel or <see cref="SslStream"/>).
    /// </summary>
    /// <param name="certificatePath">
    /// The certificate PEM file; the first <c>CERTIFICATE</c> block is used and any further ones are ignored
    /// (<see cref="LoadPemWithChain"/> serves them too).
    /// </param>
    /// <param name="keyPath">
    /// The unencrypted private key PEM file (<c>PRIVATE KEY</c>, <c>EC PRIVATE KEY</c> or <c>RSA PRIVATE KEY</c>).
    /// </param>
    /// <returns>The certificate with its private key. The caller owns and disposes it.</returns>
    /// <exception cref="FileNotFoundException">A file does not exist; the message names it.</exception>
    /// <exception cref="UnauthorizedAccessException">A file may not be read; the message names it.</exception>
    /// <exception cref="IOException">A file could not be read; the message names it.</exception>
    /// <exception cref="InvalidDataException">
    /// A file does not hold a usable certificate or key, or the key does not belong to the certificate; the message names the file.
    /// </exception>
    public static X509Certificate2 LoadPem(string certificatePath, string keyPath) =>
        LoadLeafAndChain(certificatePath, keyPath, intermediates: null);

    /// <summary>
    /// Loads a certificate with its private key and the intermediate certificates that follow it in the
    /// same PEM file (a <c>fullchain.pem</c>), ready to be served with its chain by <see cref="SslStream"/>
    /// (<see cref="SslServerAuthenticationOptions.ServerCertificateContext"/>) or Kestrel.
    /// </summary>
    /// <param name="certificatePath">
    /// The certificate PEM file: the certificate of the key first, then its intermediates, each a <c>CERTIFICATE</c> block.
    /// </param>
    /// <param name="keyPath">
    /// The unencrypted private key PEM file (<c>PRIVATE KEY</c>, <c>EC PRIVATE KEY</c> or <c>RSA PRIVATE KEY</c>).
    /// </param>
    /// <returns>
    /// The context, built offline: nothing is downloaded, so starting needs no network. Its
    /// <see cref="SslStreamCertificateContext.TargetCertificate"/> is the first certificate with its private key,
    /// which the caller owns and disposes; its <see cref="SslStreamCertificateContext.IntermediateCertificates"/>
    /// are the further certificates of the file that chain up from it, sent in every handshake.
    /// </returns>
    /// <exception cref="FileNotFoundException">A file does not exist; the message names it.</exception>
    /// <exception cref="UnauthorizedAccessException">A file may not be read; the message names it.</exception>
    /// <exception cref="IOException">A file could not be read; the message names it.</exception>
    /// <exception cref="InvalidDataException">
    /// A file does not hold a usable certificate or key, the key does not belong to the first certificate, or a
    /// further <c>CERTIFICATE</c> block is not a valid certificate; the message names the file.
    /// </exception>
    public static SslStreamCertificateContext LoadPemWithChain(string certificatePath, string keyPath)
    {
        var intermediates = new X509Certificate2Collection();
        try
        {
            X509Certificate2 leaf = LoadLeafAndChain(certificatePath, keyPath, intermediates);
            try
            {

                // The context keeps copies of the intermediates it sends; the loaded ones are not needed after this.
                return SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
            }
            catch (NotSupportedException ex)
            {
                leaf.Dispose();
                throw new InvalidDataException(
                    $"The key in '{Path.GetFullPath(keyPath)}' cannot be used by a TLS server (RSA or ECDSA keys can): {ex.Message}", ex);
            }
            catch
            {
                leaf.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (X509Certificate2 intermediate in intermediates)
            {
                intermediate.Dispose();
            }
        }
    }

    /// <summary>Loads the first certificate with its key, and the further certificates into <paramref name="intermediates"/> when given.</summary>
    private static X509Certificate2 LoadLeafAndChain(string certificatePath, string keyPath, X509Certificate2Collection? intermediates)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(certificatePath);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyPath);
        certificatePath = Path.GetFullPath(certificatePath);
        keyPath = Path.GetFullPath(keyPath);

        string certificatePem = ReadFile(certificatePath, "certificate");
        string keyPem = ReadFile(keyPath, "private key");

        if (!PemEncoding.TryFind(certificatePem, out PemFields certificateFields)
            || !certificatePem.AsSpan()[certificateFields.Label].SequenceEqual("CERTIFICATE"))
        {
            throw new InvalidDataException(
                $"The certificate file '{certificatePath}' does not contain a PEM certificate (-----BEGIN CERTIFICATE-----).");
        }

        if (keyPem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw new InvalidDataException(
                $"The private key file '{keyPath}' holds an encrypted key; an unencrypted PKCS#8 (PRIVATE KEY) key is required.");
        }

        X509Certificate2 loaded;
        try
        {
            loaded = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException(
                $"The private key in '{keyPath}' could not be used with the certificate in '{certificatePath}': {ex.Message}{OrderHint(certificatePem, certificateFields)}", ex);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(
                $"The private key file '{keyPath}' does not contain a usable PEM private key for the certificate in '{certificatePath}': {ex.Message}{OrderHint(certificatePem, certificateFields)}", ex);
        }
        catch (PlatformNotSupportedException ex)
        {
            // An EC key on a curve the platform's crypto library does not know (found by eng/fuzz.sh pem).
            throw new InvalidDataException(
                $"The private key in '{keyPath}' uses an algorithm or curve this platform does not support (RSA and the NIST P-256, P-384 and P-521 curves are): {ex.Message}", ex);
        }

        if (!loaded.HasPrivateKey)
        {
            loaded.Dispose();
            throw new InvalidDataException(
                $"The certificate loaded from '{certificatePath}' has no private key after reading '{keyPath}'.");
        }

        if (intermediates is not null)
        {
            try
            {
                ReadFurtherCertificates(certificatePem, certificateFields.Location.End.Value, certificatePath, intermediates);
            }
            catch
            {
                loaded.Dispose();
                throw;
            }
        }

        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use the ephemeral key a PEM import gives; a PKCS#12 round trip persists it.
            using (loaded)
            {
                return X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), password: null);
            }
        }

        return loaded;
    }

    /// <summary>For a key that does not fit the first certificate of a file that holds more: the order the file must have.</summary>
    private static string OrderHint(string certificatePem, PemFields first) =>
        certificatePem.AsSpan(first.Location.End.Value).Contains(CertificateBegin, StringComparison.Ordinal)
            ? " The certificate file holds several certificates; the one of this key must come first, then its intermediates (as in fullchain.pem)."
            : string.Empty;

    /// <summary>
    /// Adds every <c>CERTIFICATE</c> block of <paramref name="pem"/> from <paramref name="offset"/> on (the end
    /// of the first block) to <paramref name="certificates"/>; a block that is not a valid certificate throws.
    /// </summary>
    private static void ReadFurtherCertificates(string pem, int offset, string path, X509Certificate2Collection certificates)
    {
        for (int number = 2; ; number++)
        {
            ReadOnlySpan<char> rest = pem.AsSpan(offset);
            int begin = rest.IndexOf(CertificateBegin, StringComparison.Ordinal);
            if (begin < 0)
            {
                return;
            }

            // TryFind skips a malformed block and finds the next good one, so it must start exactly here.
            rest = rest[begin..];
            if (!PemEncoding.TryFind(rest, out PemFields fields) || fields.Location.Start.Value != 0)
            {
                throw new InvalidDataException(
                    $"Certificate {number} in the certificate file '{path}' is not a well-formed PEM block " +
                    "(base64 between -----BEGIN CERTIFICATE----- and -----END CERTIFICATE-----).");
            }

            byte[] der = new byte[fields.DecodedDataLength];
            if (!Convert.TryFromBase64Chars(rest[fields.Base64Data], der, out int written))
            {
                throw new InvalidDataException($"Certificate {number} in the certificate file '{path}' is not valid base64.");
            }

            try
            {
                certificates.Add(X509CertificateLoader.LoadCertificate(der.AsSpan(0, written)));
            }
            catch (CryptographicException ex)
            {
                throw new InvalidDataException(
                    $"Certificate {number} in the certificate file '{path}' is not a valid X.509 certificate: {ex.Message}", ex);
            }

            offset += begin + fields.Location.End.Value;
        }
    }

    private static char[] ExportPrivateKeyPem(X509Certificate2 certificate)
    {
        using AsymmetricAlgorithm? key =
            (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey()
            ?? (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey()
            ?? throw new ArgumentException(
                $"The private key of '{certificate.Subject}' is neither ECDSA nor RSA; only those can be written.", nameof(certificate));

        char[] pem = key.ExportPkcs8PrivateKeyPem().ToCharArray();
        Array.Resize(ref pem, pem.Length + 1);
        pem[^1] = '\n';
        return pem;
    }

    private static string ReadFile(string path, string what)
    {
        try
        {
            return File.ReadAllText(path, Encoding.ASCII);
        }
        catch (FileNotFoundException ex)
        {
            throw new FileNotFoundException($"The {what} file '{path}' does not exist.", path, ex);
        }
        catch (DirectoryNotFoundException ex)
        {
            throw new FileNotFoundException($"The {what} file '{path}' does not exist (its directory is missing).", path, ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new UnauthorizedAccessException($"The {what} file '{path}' may not be read by this user: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            throw new IOException($"The {what} file '{path}' could not be read: {ex.Message}", ex);
        }
    }

    private static void WriteFileAtomically(string path, ReadOnlySpan<char> content, UnixFileMode mode, bool overwrite)
    {
        string directory = Path.GetDirectoryName(path) ?? throw new ArgumentException($"'{path}' has no directory.", nameof(path));
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, PrivateDirectoryMode);
            }
        }

        string temporaryPath = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            Options = FileOptions.None,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }

        try
        {
            using (var stream = new FileStream(temporaryPath, options))
            {
                if (!OperatingSystem.IsWindows())
                {
                    // The umask may have taken bits away from the create mode; set exactly what is meant
                    // (the create mode already kept others out, so nothing was ever exposed).
                    File.SetUnixFileMode(stream.SafeFileHandle, mode);
                }

                byte[] bytes = new byte[Encoding.ASCII.GetByteCount(content)];
                Encoding.ASCII.GetBytes(content, bytes);
                try
                {
                    stream.Write(bytes);
                    stream.Flush(flushToDisk: true);
                }
                finally
                {
                    Array.Clear(bytes);
                }
            }

            File.Move(temporaryPath, path, overwrite);
        }
        catch
        {
            TryDelete(temporaryPath);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original failure is what matters.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort: the original failure is what matters.
        }
    }
}
