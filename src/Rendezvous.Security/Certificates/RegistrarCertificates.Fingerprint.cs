using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Rendezvous.Security;

public static partial class RegistrarCertificates
{
    private const int Sha256Length = 32;

    /// <summary>
    /// Gets the SHA-256 fingerprint of a certificate (the hash of its DER encoding) in the
    /// canonical form clients pin it by: upper-case hex pairs separated by colons, <c>AB:CD:…</c>
    /// (95 characters).
    /// </summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The canonical fingerprint.</returns>
    public static string GetSha256Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Span<byte> hash = stackalloc byte[Sha256Length];
        if (!certificate.TryGetCertHash(HashAlgorithmName.SHA256, hash, out int written) || written != Sha256Length)
        {
            throw new CryptographicException("The SHA-256 hash of the certificate could not be computed.");
        }

        return FormatFingerprint(hash);
    }

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
    public static string NormalizeFingerprint(string fingerprint)
    {
        if (TryNormalizeFingerprint(fingerprint, out string? normalized))
        {
            return normalized;
        }

        string shown = fingerprint is null ? "(null)"
            : fingerprint.Length > 120 ? $"'{fingerprint[..120]}…'"
            : $"'{fingerprint}'";
        throw new ArgumentException(
            $"{shown} is not a SHA-256 fingerprint; expected 64 hex digits, optionally as 32 pairs separated by ':' or spaces (AB:CD:…).",
            nameof(fingerprint));
    }

    /// <summary>
    /// Tries to turn a SHA-256 fingerprint into its canonical form; see <see cref="NormalizeFingerprint"/>.
    /// </summary>
    /// <param name="fingerprint">The fingerprint as given.</param>
    /// <param name="normalized">The canonical fingerprint, when this returns <see langword="true"/>.</param>
    /// <returns>Whether <paramref name="fingerprint"/> is a SHA-256 fingerprint in an accepted form.</returns>
    public static bool TryNormalizeFingerprint(string? fingerprint, [NotNullWhen(true)] out string? normalized)
    {
        normalized = null;
        if (fingerprint is null)
        {
            return false;
        }

        ReadOnlySpan<char> text = fingerprint.AsSpan().Trim();
        Span<byte> hash = stackalloc byte[Sha256Length];

        if (text.Length == Sha256Length * 2)
        {
            // Plain hex.
            if (Convert.FromHexString(text, hash, out _, out int written) != OperationStatus.Done || written != Sha256Length)
            {
                return false;
            }
        }
        else
        {
            // Pairs with one separator between each: ':' or white space.
            if (text.Length != (Sha256Length * 3) - 1)
            {
                return false;
            }

            for (int i = 0; i < Sha256Length; i++)
            {
                int at = i * 3;
                if (i > 0 && text[at - 1] != ':' && !char.IsWhiteSpace(text[at - 1]))
                {
                    return false;
                }

                if (!char.IsAsciiHexDigit(text[at]) || !char.IsAsciiHexDigit(text[at + 1]))
                {
                    return false;
                }

                hash[i] = (byte)((HexValue(text[at]) << 4) | HexValue(text[at + 1]));
            }
        }

        normalized = FormatFingerprint(hash);
        return true;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static string FormatFingerprint(ReadOnlySpan<byte> hash)
    {
        return string.Create((hash.Length * 3) - 1, hash.ToArray(), static (chars, bytes) =>
        {
            const string Digits = "0123456789ABCDEF";
            for (int i = 0; i < bytes.Length; i++)
            {
                int at = i * 3;
                if (i > 0)
                {
                    chars[at - 1] = ':';
                }

                chars[at] = Digits[bytes[i] >> 4];
                chars[at + 1] = Digits[bytes[i] & 0xF];
            }
        });
    }
}
