using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rendezvous.Client.Internal;
using Rendezvous.Client.Registrar;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Tls;

namespace Rendezvous.Client.Agent;

/// <summary>
/// A hidden server's config file, the one format of it: written by <c>rendezvous users add --config-out</c> (and
/// <c>rotate</c>, <c>export</c> and the admin page) and read by <c>rendezvous expose --config</c>, or by an app with
/// <see cref="Load"/> and <see cref="ToAgentOptions"/>:
/// <c>{"registrarUrl":"https://HOST:8898/","uuid":"...","secret":"BASE32","step":30,"digits":6,"registrarFingerprint":"AB:CD:..."}</c>.
/// The registrar's certificate is trusted as <see cref="RegistrarTrust"/> says: by <c>registrarFingerprint</c>
/// (a pinned SHA-256 fingerprint), by <c>registrarCaFile</c> (a PEM file with the certificate or its CA, relative to
/// the config file's folder) or by <c>"trustSystemStore": true</c>; at least one is required, and any one that
/// accepts is enough. A cluster's further registrars (which share the certificate) follow in an optional
/// <c>"registrarUrls": ["https://B:8898/", ...]</c>, tried in order after <c>registrarUrl</c> when a registrar is down; readers
/// that do not know the field use <c>registrarUrl</c> alone. It holds the TOTP secret, so <see cref="Write"/> gives it mode 0600.
/// </summary>
/// <param name="RegistrarUrl">The registrar's URL (https://).</param>
/// <param name="Uuid">The hidden server's UUID.</param>
/// <param name="Secret">The shared TOTP secret, base32.</param>
/// <param name="Step">The TOTP time step in seconds, 1 to 300.</param>
/// <param name="Digits">The TOTP code length, 6 to 8.</param>
/// <param name="RegistrarFingerprint">The registrar certificate's SHA-256 fingerprint, pinned; <see langword="null"/> when not given.</param>
/// <param name="RegistrarCaFile">The full path of a PEM file with the registrar's certificate or its CA; <see langword="null"/> when not given.</param>
/// <param name="TrustSystemStore">Whether the system trust store counts too; <see langword="null"/> when not given (it then counts only without a pin).</param>
public sealed record HiddenServerConfigFile(
    Uri RegistrarUrl, string Uuid, string Secret, int Step, int Digits, string? RegistrarFingerprint, string? RegistrarCaFile = null, bool? TrustSystemStore = null)
{
    /// <summary>The registrar's port when none is given: 8898.</summary>
    public const int DefaultRegistrarPort = 8898;

    private const int DefaultStep = 30;
    private const int MinimumStep = 1;
    private const int MaximumStep = 300;
    private const int DefaultDigits = 6;
    private const int MinimumDigits = 6;
    private const int MaximumDigits = 8;
    private const int MinimumSecretBytes = 10;

    /// <summary>The most further registrars <c>registrarUrls</c> may name.</summary>
    public const int MaxMoreRegistrarUrls = 7;

    private static readonly JsonSerializerOptions WriteOptions = new() { WriteIndented = true };

    /// <summary>
    /// Further registrars of the same service (a cluster's nodes), from <c>registrarUrls</c>: tried in order after
    /// <see cref="RegistrarUrl"/> when a registrar is down. Empty when the file names none.
    /// </summary>
    public IReadOnlyList<Uri> MoreRegistrarUrls { get; init; } = Array.Empty<Uri>();

    /// <summary>Whether <paramref name="other"/> holds the same settings, its further registrars compared in order.</summary>
    /// <param name="other">The other configuration.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(HiddenServerConfigFile? other) =>
        other is not null
        && RegistrarUrl == other.RegistrarUrl && string.Equals(Uuid, other.Uuid, StringComparison.Ordinal) && string.Equals(Secret, other.Secret, StringComparison.Ordinal)
        && Step == other.Step && Digits == other.Digits
        && string.Equals(RegistrarFingerprint, other.RegistrarFingerprint, StringComparison.Ordinal) && string.Equals(RegistrarCaFile, other.RegistrarCaFile, StringComparison.Ordinal)
        && TrustSystemStore == other.TrustSystemStore && MoreRegistrarUrls.SequenceEqual(other.MoreRegistrarUrls);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(RegistrarUrl, Uuid, Step, Digits, RegistrarFingerprint, RegistrarCaFile, TrustSystemStore, MoreRegistrarUrls.Count);

    /// <summary>Describes the entry without its secret, so that it is safe to print or log.</summary>
    /// <returns>Registrar, UUID, step and digits.</returns>
    public override string ToString() => $"{Uuid} at {RegistrarUrl} (step {Step} s, {Digits} digits)";

    /// <summary>The file's content: indented JSON and a final newline. It holds the secret.</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson()
    {
        var json = new JsonObject
        {
            ["registrarUrl"] = RegistrarUrl.ToString(),
        };
        if (MoreRegistrarUrls.Count > 0)
        {
            json["registrarUrls"] = new JsonArray([.. MoreRegistrarUrls.Select(url => (JsonNode?)JsonValue.Create(url.ToString()))]);
        }

        json["uuid"] = Uuid;
        json["secret"] = Secret;
        json["step"] = Step;
        json["digits"] = Digits;
        if (RegistrarFingerprint is not null)
        {
            json["registrarFingerprint"] = RegistrarFingerprint;
        }

        if (RegistrarCaFile is not null)
        {
            json["registrarCaFile"] = RegistrarCaFile;
        }

        if (TrustSystemStore is { } system)
        {
            json["trustSystemStore"] = system;
        }

        return json.ToJsonString(WriteOptions) + "\n";
    }

    /// <summary>How to trust the registrar's certificate, as the file says.</summary>
    /// <returns>A new trust setting.</returns>
    public RegistrarTrust ToTrust() => new()
    {
        PinnedFingerprint = RegistrarFingerprint,
        CertificateAuthorityPath = RegistrarCaFile,
        TrustSystemStore = TrustSystemStore,
    };

    /// <summary>
    /// The hidden-server agent's options the file gives: registrar, trust, UUID and TOTP secret, step and digits; the
    /// other settings (pool size, authenticator, timeouts) keep their defaults for the caller to set.
    /// </summary>
    /// <returns>New options.</returns>
    public HiddenServerAgentOptions ToAgentOptions() => new()
    {
        RegistrarUrl = RegistrarUrl,
        RegistrarUrls = [.. MoreRegistrarUrls],
        Trust = ToTrust(),
        Uuid = Uuid,
        Secret = Secret,
        Step = Step,
        Digits = Digits,
    };

    /// <summary>Writes the file, creating it with mode 0600 before any byte of the secret is written; an existing file is replaced.</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="IOException">The file cannot be written.</exception>
    /// <exception cref="UnauthorizedAccessException">The file or its folder is not writable.</exception>
    public void Write(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(ToJson());
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        if (!OperatingSystem.IsWindows())
        {
            // UnixCreateMode applies only to a new file; an existing one is narrowed before it is overwritten.
            File.SetUnixFileMode(stream.SafeFileHandle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        stream.Write(bytes);
    }

    /// <summary>Reads and validates a config file.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The configuration.</returns>
    /// <exception cref="InvalidDataException">
    /// The file cannot be read or is not a valid config file; the message is one line naming the file, the first bad
    /// field, its value (never the secret's) and what is accepted.
    /// </exception>
    public static HiddenServerConfigFile Load(string path) =>
        TryLoad(path, out var config, out var error) ? config : throw new InvalidDataException(error);

    /// <summary>Reads and validates a config file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="config">The configuration, when valid.</param>
    /// <param name="error">
    /// When not: one line naming the file, the first bad field, its value (never the secret's) and what is accepted,
    /// starting in lower case so that it can follow a prefix such as <c>"rendezvous expose: "</c>.
    /// </param>
    /// <returns>Whether the file is a valid configuration.</returns>
    public static bool TryLoad(string path, [NotNullWhen(true)] out HiddenServerConfigFile? config, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(path);
        config = null;
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            error = $"cannot read the config file '{path}': {ex.Message}";
            return false;
        }

        JsonObject root;
        try
        {
            // A repeated property is refused rather than picked: which of two "secret"s counts would be a guess.
            if (JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) is not JsonObject parsed)
            {
                error = $"the config file '{path}' is not a JSON object; expected {{\"registrarUrl\":...,\"uuid\":...,\"secret\":...,\"registrarFingerprint\":...}} as written by 'rendezvous users add --config-out'.";
                return false;
            }

            root = parsed;
        }
        catch (JsonException ex)
        {
            // The parser's message quotes the bytes it stopped at, which may be anything: shown on one line, escaped.
            error = $"the config file '{path}' is not valid JSON: {ControlText.Escape(ex.Message)}";
            return false;
        }

        string Bad(string field, string problem) => $"the config file '{path}' has a bad \"{field}\": {problem}";

        if (!TryGetString(root, "registrarUrl", out var urlText))
        {
            error = Bad("registrarUrl", $"{Show(root, "registrarUrl")}; it must be an https:// URL such as https://rendezvous.example.com:8898/.");
            return false;
        }

        if (!RegistrarUrlText.TryParse(urlText, out var url, out var urlProblem))
        {
            error = Bad("registrarUrl", $"{Show(root, "registrarUrl")}, which is {urlProblem}.");
            return false;
        }

        var more = new List<Uri>();
        if (root.TryGetPropertyValue("registrarUrls", out var moreNode))
        {
            const string Expected = "it must be a list of https:// URLs of the same service's further registrars, such as [\"https://b.example.com:8898/\"]";
            if (moreNode is not JsonArray moreArray || moreArray.Count > MaxMoreRegistrarUrls)
            {
                error = Bad("registrarUrls", $"{Show(root, "registrarUrls")}; {Expected}, at most {MaxMoreRegistrarUrls}.");
                return false;
            }

            foreach (var item in moreArray)
            {
                string? itemText = null;
                try
                {
                    _ = item is JsonValue itemValue && itemValue.TryGetValue(out itemText);
                }
                catch (InvalidOperationException)
                {
                    // A string whose escapes are not valid UTF-16 text: no URL.
                }

                if (itemText is null)
                {
                    error = Bad("registrarUrls", $"an entry is not a string; {Expected}.");
                    return false;
                }

                if (!RegistrarUrlText.TryParse(itemText, out var moreUrl, out var moreProblem))
                {
                    error = Bad("registrarUrls", $"the entry '{ControlText.Escape(itemText)}' is {moreProblem}; {Expected}.");
                    return false;
                }

                if (moreUrl != url && !more.Contains(moreUrl))
                {
                    more.Add(moreUrl);
                }
            }
        }

        if (!TryGetString(root, "uuid", out var uuidText) || !UuidText.TryNormalize(uuidText, out var uuid))
        {
            error = Bad("uuid", $"{Show(root, "uuid")}; it must be a UUID such as 123e4567-e89b-12d3-a456-426614174000.");
            return false;
        }

        if (!TryGetString(root, "secret", out var secretText) || !Base32Text.TryDecode(secretText, MinimumSecretBytes, out _))
        {
            error = Bad("secret", $"it is missing or not base32 of at least {MinimumSecretBytes * 8} bits (letters A-Z and digits 2-7).");
            return false;
        }

        if (!TryGetInt(root, "step", DefaultStep, out var step) || step is < MinimumStep or > MaximumStep)
        {
            error = Bad("step", $"{Show(root, "step")}; it must be a number of seconds from {MinimumStep} to {MaximumStep}.");
            return false;
        }

        if (!TryGetInt(root, "digits", DefaultDigits, out var digits) || digits is < MinimumDigits or > MaximumDigits)
        {
            error = Bad("digits", $"{Show(root, "digits")}; it must be a number from {MinimumDigits} to {MaximumDigits}.");
            return false;
        }

        string? fingerprint = null;
        if (root.ContainsKey("registrarFingerprint")
            && (!TryGetString(root, "registrarFingerprint", out var fingerprintText) || !CertificateFingerprint.TryNormalize(fingerprintText, out fingerprint)))
        {
            error = Bad("registrarFingerprint", $"{Show(root, "registrarFingerprint")}; it must be the registrar certificate's SHA-256 fingerprint, 32 hex bytes such as AB:CD:...");
            return false;
        }

        string? caFile = null;
        if (root.ContainsKey("registrarCaFile"))
        {
            if (!TryGetString(root, "registrarCaFile", out var caText))
            {
                error = Bad("registrarCaFile", $"{Show(root, "registrarCaFile")}; it must be the path of a PEM file with the registrar's certificate or the CA that issued it.");
                return false;
            }

            // Relative to the config file, so that the file and its CA can be copied together.
            if (caText.Contains('\0', StringComparison.Ordinal))
            {
                error = Bad("registrarCaFile", "it holds a NUL character, which no file path can; it must be the path of a PEM file with the registrar's certificate or the CA that issued it.");
                return false;
            }

            caFile = Path.GetFullPath(caText, Path.GetDirectoryName(Path.GetFullPath(path))!);
            if (!File.Exists(caFile))
            {
                error = Bad("registrarCaFile", $"{Show(root, "registrarCaFile")}, and {caFile} does not exist; it must be a PEM file with the registrar's certificate or the CA that issued it.");
                return false;
            }
        }

        bool? system = null;
        if (root.TryGetPropertyValue("trustSystemStore", out var systemNode))
        {
            if (systemNode is not JsonValue systemValue || !systemValue.TryGetValue(out bool systemFlag))
            {
                error = Bad("trustSystemStore", $"{Show(root, "trustSystemStore")}; it must be true or false.");
                return false;
            }

            system = systemFlag;
        }

        if (fingerprint is null && caFile is null && system != true)
        {
            error = $"the config file '{path}' does not say how to trust the registrar's certificate; give \"registrarFingerprint\" (its SHA-256 fingerprint, as 'rendezvous serve' logs it), "
                + "\"registrarCaFile\" (a PEM file with the certificate or the CA that issued it) or \"trustSystemStore\": true (a certificate from a CA this machine trusts).";
            return false;
        }

        config = new HiddenServerConfigFile(url, uuid, secretText!.Trim(), step, digits, fingerprint, caFile, system) { MoreRegistrarUrls = more.Count == 0 ? Array.Empty<Uri>() : [.. more] };
        error = null;
        return true;
    }

    /// <summary>The registrar URL a config file names by default: <c>https://HOST:8898/</c>, IPv6 addresses in brackets.</summary>
    /// <param name="publicHost">The name or address the registrar is reached by; <c>localhost</c> when <see langword="null"/> or blank.</param>
    /// <returns>The URL.</returns>
    public static Uri DefaultRegistrarUrl(string? publicHost)
    {
        var host = string.IsNullOrWhiteSpace(publicHost) ? "localhost" : publicHost.Trim();
        if (host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('['))
        {
            host = $"[{host}]";
        }

        return new Uri($"https://{host}:{DefaultRegistrarPort}/");
    }

    private static bool TryGetString(JsonObject root, string name, [NotNullWhen(true)] out string? value)
    {
        value = null;
        if (root.TryGetPropertyValue(name, out var node) && node is JsonValue json)
        {
            try
            {
                if (json.TryGetValue(out string? text) && !string.IsNullOrWhiteSpace(text))
                {
                    value = text;
                    return true;
                }
            }
            catch (InvalidOperationException)
            {
                // A string whose escapes are not valid UTF-16 (a lone surrogate such as "\ud800"): not text at all.
            }
        }

        return false;
    }

    private static bool TryGetInt(JsonObject root, string name, int fallback, out int value)
    {
        value = fallback;
        if (!root.TryGetPropertyValue(name, out var node) || node is null)
        {
            return true;
        }

        return node is JsonValue json && json.TryGetValue(out value);
    }

    private static string Show(JsonObject root, string name)
    {
        if (!root.TryGetPropertyValue(name, out var node) || node is null)
        {
            return "it is missing";
        }

        try
        {
            return $"it is {node.ToJsonString()}";
        }
        catch (InvalidOperationException)
        {
            // Writing it back unescapes it, and a lone surrogate escape ("\ud800") is no text.
            return "it is a string with an escape that is not valid UTF-16 text (a lone surrogate)";
        }
    }
}
