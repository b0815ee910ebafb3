using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;

using Rendezvous.Protocol.Tls;

namespace Rendezvous.Server.Certificates;

public static partial class RegistrarCertificates
{
    /// <summary>
    /// Gets the SHA-256 fingerprint of a certificate (the hash of its DER encoding) in the
    /// canonical form clients pin it by: upper-case hex pairs separated by colons, <c>AB:CD:…</c>
    /// (95 characters).
    /// </summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The canonical fingerprint.</returns>
    public static string GetSha256Fingerprint(X509Certificate2 certificate) => CertificateFingerprint.Compute(certificate);

    /// <summary>
    /// Turns a SHA-256 fingerprint as a person might paste it into the canonical form returned by
    /// <see cref="GetSha256Fingerprint"/>, so that two fingerprints can be compared with
    /// <see cref="string.Equals(string, string)"/>.
    /// </summary>
    /// <param name="fingerprint">
    /// 32 bytes as hex digits in either case: 64 digits with no separators, or 32 pairs separated by
    /// colons or white space. Surrounding white space is ignored.
    /// </param>
    /// <returns>The canonical fingerprint: upper-case hex pairs separated by colons.</returns>
    /// <exception cref="ArgumentException"><paramref name="fingerprint"/> is null or not such a fingerprint; the message quotes it.</exception>
    public static string NormalizeFingerprint(string fingerprint) => CertificateFingerprint.Normalize(fingerprint);

    /// <summary>
    /// Tries to turn a SHA-256 fingerprint into its canonical form; see <see cref="NormalizeFingerprint"/>.
    /// </summary>
    /// <param name="fingerprint">The fingerprint as given.</param>
    /// <param name="normalized">The canonical fingerprint, when this returns <see langword="true"/>.</param>
    /// <returns>Whether <paramref name="fingerprint"/> is a SHA-256 fingerprint in an accepted form.</returns>
    public static bool TryNormalizeFingerprint(string? fingerprint, [NotNullWhen(true)] out string? normalized) =>
        CertificateFingerprint.TryNormalize(fingerprint, out normalized);
}
