using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Rendezvous.Protocol;

namespace Rendezvous.Security;

/// <summary>
/// Textual forms and limits of secret entries: UUID normalisation, base32 secrets and the accepted
/// ranges of steps and digits. Used by the secret store, the policy and the <c>rendezvous users</c> command.
/// </summary>
public static class SecretFormat
{
    /// <summary>The smallest accepted TOTP step, in seconds (1).</summary>
    public const int MinimumStep = 1;

    /// <summary>The largest accepted TOTP step, in seconds (300).</summary>
    public const int MaximumStep = 300;

    /// <summary>The default TOTP step, in seconds (30).</summary>
    public const int DefaultStep = 30;

    /// <summary>The fewest digits a code may have (6).</summary>
    public const int MinimumDigits = 6;

    /// <summary>The most digits a code may have (8).</summary>
    public const int MaximumDigits = 8;

    /// <summary>The default number of digits of a code (6).</summary>
    public const int DefaultDigits = 6;

    /// <summary>The shortest accepted secret, in bytes (10 bytes, 80 bits; RFC 4226 minimum is 128 bits, recommended 160).</summary>
    public const int MinimumSecretBytes = 10;

    /// <summary>The length of a generated secret, in bytes (20 bytes, 160 bits).</summary>
    public const int GeneratedSecretBytes = 20;

    /// <summary>
    /// Parses an RFC 4122 textual UUID (<c>xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx</c> in any letter case, optionally in
    /// braces or prefixed with <c>urn:uuid:</c>) and returns its lower-case canonical form.
    /// </summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="uuid">The canonical lower-case form, when the text is a UUID.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is a UUID.</returns>
    public static bool TryNormalizeUuid(string? text, [NotNullWhen(true)] out string? uuid) => UuidText.TryNormalize(text, out uuid);

    /// <summary>
    /// Parses a base32 (RFC 4648) secret: letters in any case and digits 2-7, padding optional, spaces ignored.
    /// Secrets shorter than <see cref="MinimumSecretBytes"/> are refused.
    /// </summary>
    /// <param name="text">The base32 text.</param>
    /// <param name="secret">The decoded secret, when valid.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is valid base32 of at least 80 bits.</returns>
    public static bool TryParseBase32(string? text, [NotNullWhen(true)] out byte[]? secret) =>
        Base32Text.TryDecode(text, MinimumSecretBytes, out secret);

    /// <summary>Encodes a secret as upper-case base32 without padding.</summary>
    /// <param name="secret">The raw secret.</param>
    /// <returns>The base32 text.</returns>
    public static string ToBase32(byte[] secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        return Base32Text.Encode(secret);
    }

    /// <summary>Creates a random secret of <see cref="GeneratedSecretBytes"/> bytes from a cryptographic random source.</summary>
    /// <returns>A new secret.</returns>
    public static byte[] CreateRandomSecret() => RandomNumberGenerator.GetBytes(GeneratedSecretBytes);

    /// <summary>Whether <paramref name="step"/> is an accepted TOTP step (1..300 seconds).</summary>
    /// <param name="step">The step in seconds.</param>
    /// <returns><see langword="true"/> when accepted.</returns>
    public static bool IsValidStep(int step) => step is >= MinimumStep and <= MaximumStep;

    /// <summary>Whether <paramref name="digits"/> is an accepted code length (6..8).</summary>
    /// <param name="digits">The number of digits.</param>
    /// <returns><see langword="true"/> when accepted.</returns>
    public static bool IsValidDigits(int digits) => digits is >= MinimumDigits and <= MaximumDigits;

    /// <summary>
    /// Checks an entry as every <see cref="SecretStore"/> does before adding it: a UUID, and a step, digits and secret
    /// length in range.
    /// </summary>
    /// <param name="entry">The entry.</param>
    /// <returns>The entry's UUID in lower-case canonical form.</returns>
    /// <exception cref="ArgumentException">The entry is out of range; the message names the value.</exception>
    public static string ValidateEntry(SecretEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!TryNormalizeUuid(entry.Uuid, out string? uuid))
        {
            throw new ArgumentException($"'{entry.Uuid}' is not a UUID.", nameof(entry));
        }

        if (!IsValidStep(entry.Step))
        {
            throw new ArgumentException($"Step {entry.Step} must be between {MinimumStep} and {MaximumStep} seconds.", nameof(entry));
        }

        if (!IsValidDigits(entry.Digits))
        {
            throw new ArgumentException($"Digits {entry.Digits} must be between {MinimumDigits} and {MaximumDigits}.", nameof(entry));
        }

        if (entry.Secret is null || entry.Secret.Length < MinimumSecretBytes)
        {
            throw new ArgumentException($"The secret must be at least {MinimumSecretBytes} bytes.", nameof(entry));
        }

        return uuid;
    }
}
