using System.Diagnostics.CodeAnalysis;

namespace Rendezvous.Protocol;

/// <summary>
/// Base32 (RFC 4648) text as shared secrets are written everywhere (config files, otpauth URIs, the
/// original's database): letters in any case and digits 2-7, padding optional, spaces ignored.
/// One definition for the server's secret store and the hidden-server agent.
/// </summary>
public static class Base32Text
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// <summary>Decodes base32 text of at least <paramref name="minimumBytes"/> bytes.</summary>
    /// <param name="text">The text.</param>
    /// <param name="minimumBytes">The fewest bytes accepted.</param>
    /// <param name="bytes">The decoded bytes, when valid.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is base32 of at least <paramref name="minimumBytes"/> bytes.</returns>
    public static bool TryDecode(string? text, int minimumBytes, [NotNullWhen(true)] out byte[]? bytes)
    {
        bytes = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var compact = text.Trim().Replace(" ", string.Empty, StringComparison.Ordinal).TrimEnd('=');

        // Each character carries 5 bits; leftover bits (fewer than 8) are not part of the value.
        var decoded = new byte[compact.Length * 5 / 8];
        if (decoded.Length < minimumBytes)
        {
            return false;
        }

        int buffer = 0, bits = 0, written = 0;
        foreach (var c in compact)
        {
            var value = c switch
            {
                >= 'A' and <= 'Z' => c - 'A',
                >= 'a' and <= 'z' => c - 'a',
                >= '2' and <= '7' => c - '2' + 26,
                _ => -1,
            };
            if (value < 0)
            {
                return false;
            }

            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                decoded[written++] = (byte)(buffer >> bits);
                buffer &= (1 << bits) - 1;
            }
        }

        bytes = decoded;
        return true;
    }

    /// <summary>Encodes bytes as upper-case base32 without padding.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <returns>The base32 text.</returns>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[(bytes.Length * 8 + 4) / 5];
        int buffer = 0, bits = 0, written = 0;
        foreach (var b in bytes)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                chars[written++] = Alphabet[(buffer >> bits) & 31];
            }

            buffer &= (1 << bits) - 1;
        }

        if (bits > 0)
        {
            chars[written++] = Alphabet[(buffer << (5 - bits)) & 31];
        }

        return new string(chars, 0, written);
    }
}
