using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Unicode;
using Rendezvous.Client.Internal;
using Rendezvous.Security;

namespace Rendezvous.Redis;

/// <summary>
/// A hidden server's secret as the original node-rendezvous keeps it in Redis: the value of the UUID's key is
/// the JSON text <c>{"authParams":{"protocol":"totp","base32":"...","step":30}}</c> (with more fields that do not
/// matter here). The original's codes have 6 digits and a 30-second step unless the value says otherwise.
/// </summary>
/// <param name="Secret">The raw shared secret (HMAC-SHA1 key), at least 80 bits.</param>
/// <param name="Step">The TOTP step in seconds.</param>
/// <param name="Digits">The code length.</param>
public sealed record NodeRendezvousSecret(byte[] Secret, int Step, int Digits)
{
    private const int MaxShownChars = 40;

    /// <summary>Parses one value. The problem never quotes the secret.</summary>
    /// <param name="value">The value's bytes (UTF-8 JSON).</param>
    /// <param name="secret">The secret, when the value is a usable TOTP entry.</param>
    /// <param name="problem">Why it is not, in a few words naming the field and its value.</param>
    /// <returns>Whether the value is a usable TOTP entry.</returns>
    public static bool TryParse(ReadOnlyMemory<byte> value, [NotNullWhen(true)] out NodeRendezvousSecret? secret, [NotNullWhen(false)] out string? problem)
    {
        secret = null;

        // JSON must be UTF-8, but the parser checks a string's bytes only when the string is read: checked once here.
        if (!Utf8.IsValid(value.Span))
        {
            problem = "the value is not UTF-8 text";
            return false;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(value, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException)
        {
            problem = "the value is not JSON";
            return false;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("authParams", out JsonElement authParams)
                || authParams.ValueKind != JsonValueKind.Object)
            {
                problem = "the value has no \"authParams\" object";
                return false;
            }

            if (!authParams.TryGetProperty("protocol", out JsonElement protocol)
                || !string.Equals(TextOf(protocol), "totp", StringComparison.OrdinalIgnoreCase))
            {
                problem = $"authParams.protocol is {Show(authParams, "protocol")}, not \"totp\"";
                return false;
            }

            if (authParams.TryGetProperty("algorithm", out JsonElement algorithm)
                && algorithm.ValueKind != JsonValueKind.Null
                && !string.Equals(TextOf(algorithm), "sha1", StringComparison.OrdinalIgnoreCase))
            {
                problem = $"authParams.algorithm is {Show(authParams, "algorithm")}; only \"sha1\" is supported";
                return false;
            }

            if (!authParams.TryGetProperty("base32", out JsonElement base32)
                || !SecretFormat.TryParseBase32(TextOf(base32), out byte[]? key))
            {
                problem = $"authParams.base32 is missing or not base32 of at least {SecretFormat.MinimumSecretBytes * 8} bits";
                return false;
            }

            if (!TryGetInt(authParams, "step", SecretFormat.DefaultStep, out int step) || !SecretFormat.IsValidStep(step))
            {
                problem = $"authParams.step is {Show(authParams, "step")}; expected a whole number of seconds from {SecretFormat.MinimumStep} to {SecretFormat.MaximumStep}";
                return false;
            }

            if (!TryGetInt(authParams, "digits", SecretFormat.DefaultDigits, out int digits) || !SecretFormat.IsValidDigits(digits))
            {
                problem = $"authParams.digits is {Show(authParams, "digits")}; expected a whole number from {SecretFormat.MinimumDigits} to {SecretFormat.MaximumDigits}";
                return false;
            }

            secret = new NodeRendezvousSecret(key, step, digits);
            problem = null;
            return true;
        }
    }

    /// <summary>
    /// The text of a JSON string; <see langword="null"/> for any other kind of value, and for a string whose escapes
    /// are not valid UTF-16 (a lone surrogate such as <c>"\ud800"</c>, which JSON's grammar allows but no text is).
    /// </summary>
    private static string? TextOf(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.String)
        {
            return null;
        }

        try
        {
            return element.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static bool TryGetInt(JsonElement parent, string name, int fallback, out int value)
    {
        value = fallback;
        if (!parent.TryGetProperty(name, out JsonElement element) || element.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        return element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out value);
    }

    private static string Show(JsonElement parent, string name)
    {
        if (!parent.TryGetProperty(name, out JsonElement element))
        {
            return "missing";
        }

        // An object or an array may span lines: the reason stays one line of the import's report.
        string text = ControlText.Escape(element.GetRawText());
        return text.Length <= MaxShownChars ? text : string.Concat(text.AsSpan(0, MaxShownChars), "...");
    }
}
