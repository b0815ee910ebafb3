using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Rendezvous.Protocol.Tls;

/// <summary>
/// SHA-256 certificate fingerprints, the form in which clients pin the registrar's certificate (and a
/// hidden server's, for end-to-end TLS): upper-case hex pairs separated by colons, <c>AB:CD:…</c>.
/// </summary>
public static class CertificateFingerprint
{
    private const int HashLength = 32;

    /// <summary>The SHA-256 fingerprint of <paramref name="certificate"/> (the hash of its DER encoding), canonical form.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The fingerprint, 95 characters.</returns>
    public static string Compute(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Span<byte> hash = stackalloc byte[HashLength];
        if (!certificate.TryGetCertHash(HashAlgorithmName.SHA256, hash, out var written) || written != HashLength)
        {
            throw new CryptographicException("The SHA-256 hash of the certificate could not be computed.");
        }

        return Format(hash);
    }

    /// <summary>Turns a fingerprint as a person might paste it into the canonical form.</summary>
    /// <param name="fingerprint">64 hex digits in either case, plain or as 32 pairs separated by <c>:</c> or spaces.</param>
    /// <returns>The canonical fingerprint.</returns>
    /// <exception cref="ArgumentException">Not such a fingerprint; the message quotes it and says what is accepted.</exception>
    public static string Normalize(string fingerprint)
    {
        if (TryNormalize(fingerprint, out var normalized))
        {
            return normalized;
        }

        var shown = fingerprint is null ? "(null)" : fingerprint.Length > 120 ? $"'{fingerprint[..120]}…'" : $"'{fingerprint}'";
        throw new ArgumentException(
            $"{shown} is not a SHA-256 fingerprint; expected 64 hex digits, optionally as 32 pairs separated by ':' or spaces (AB:CD:…).",
            nameof(fingerprint));
    }

    /// <summary>Tries to turn a fingerprint into the canonical form; see <see cref="Normalize"/>.</summary>
    /// <param name="fingerprint">The fingerprint as given.</param>
    /// <param name="normalized">The canonical fingerprint, when this returns <see langword="true"/>.</param>
    /// <returns>Whether it is a SHA-256 fingerprint in an accepted form.</returns>
    public static bool TryNormalize(string? fingerprint, [NotNullWhen(true)] out string? normalized)
    {
        normalized = null;
        if (fingerprint is null)
        {
            return false;
        }

        var text = fingerprint.AsSpan().Trim();
        Span<byte> hash = stackalloc byte[HashLength];
        var separated = text.Length == (HashLength * 3) - 1;
        if (text.Length != HashLength * 2 && !separated)
        {
            return false;
        }

        var stride = separated ? 3 : 2;
        for (var i = 0; i < HashLength; i++)
        {
            var at = i * stride;
            if (separated && i > 0 && text[at - 1] != ':' && !char.IsWhiteSpace(text[at - 1]))
            {
                return false;
            }

            if (!char.IsAsciiHexDigit(text[at]) || !char.IsAsciiHexDigit(text[at + 1]))
            {
                return false;
            }

            hash[i] = (byte)((HexValue(text[at]) << 4) | HexValue(text[at + 1]));
        }

        normalized = Format(hash);
        return true;
    }

    /// <summary>Whether <paramref name="certificate"/> has the fingerprint <paramref name="expected"/> (any accepted form).</summary>
    /// <param name="certificate">The certificate presented.</param>
    /// <param name="expected">The pinned fingerprint.</param>
    /// <returns><see langword="true"/> when they match.</returns>
    public static bool Matches(X509Certificate certificate, string expected)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return TryNormalize(expected, out var pinned) && string.Equals(Compute(certificate), pinned, StringComparison.Ordinal);
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static string Format(ReadOnlySpan<byte> hash)
    {
        Span<char> chars = stackalloc char[(HashLength * 3) - 1];
        const string Digits = "0123456789ABCDEF";
        for (var i = 0; i < hash.Length; i++)
        {
            var at = i * 3;
            if (i > 0)
            {
                chars[at - 1] = ':';
            }

            chars[at] = Digits[hash[i] >> 4];
            chars[at + 1] = Digits[hash[i] & 0xF];
        }

        return new string(chars);
    }
}
