using System.CommandLine;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Rendezvous.Security;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous users add|list|remove</c>: provision hidden servers' TOTP secrets.</summary>
internal static class UsersCommand
{
    /// <summary>Exit code for input that is refused (bad UUID, secret, step or digits, duplicate UUID).</summary>
    public const int BadInput = 2;

    /// <summary>Exit code when the operation could not be done (UUID absent, database unreachable).</summary>
    public const int Failed = 1;

    private const string DataDirectoryVariable = "Rendezvous__DataDirectory";

    public static Command Create()
    {
        var users = new Command("users", "Manage the hidden servers allowed to register: their UUIDs and TOTP secrets.");
        users.Subcommands.Add(CreateAdd());
        users.Subcommands.Add(CreateList());
        users.Subcommands.Add(CreateRemove());
        return users;
    }

    private static Option<string> CreateDataDirOption() => new("--data-dir")
    {
        Description = $"The data directory holding {SqliteSecretStore.DefaultFileName}. Defaults to ${DataDirectoryVariable}, else {TotpSecurityOptions.DefaultDataDirectory}.",
        HelpName = "DIR",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(DataDirectoryVariable) is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : TotpSecurityOptions.DefaultDataDirectory,
    };

    private static Command CreateAdd()
    {
        var uuidArgument = new Argument<string?>("uuid")
        {
            Description = "The hidden server's UUID. A random one is made when omitted.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var secretOption = new Option<string?>("--secret")
        {
            Description = "The shared secret in base32, at least 80 bits. A random 160-bit one is made when omitted.",
            HelpName = "BASE32",
        };
        var stepOption = new Option<int>("--step")
        {
            Description = $"The TOTP time step in seconds, {SecretFormat.MinimumStep}..{SecretFormat.MaximumStep}.",
            DefaultValueFactory = _ => SecretFormat.DefaultStep,
        };
        var digitsOption = new Option<int>("--digits")
        {
            Description = $"The number of digits of a code, {SecretFormat.MinimumDigits}..{SecretFormat.MaximumDigits}.",
            DefaultValueFactory = _ => SecretFormat.DefaultDigits,
        };
        Option<string> dataDirOption = CreateDataDirOption();
        var configOutOption = new Option<string?>("--config-out")
        {
            Description = "Also write the hidden server's config file for 'rendezvous expose --config' (JSON with the registrar URL, UUID, secret and the registrar certificate's fingerprint; mode 0600).",
            HelpName = "FILE",
        };
        var registrarUrlOption = new Option<string?>("--registrar-url")
        {
            Description = $"With --config-out: the registrar URL the hidden server uses. Default: https://<public host or localhost>:{HiddenServerConfig.DefaultRegistrarPort}/.",
            HelpName = "URL",
        };
        var publicHostOption = new Option<string?>("--public-host")
        {
            Description = "With --config-out: the name the registrar is reached by; used in the default URL and in the certificate generated if the data directory has none yet.",
            HelpName = "NAME",
        };

        var add = new Command("add", "Add a hidden server; prints its UUID, secret and otpauth:// URI.");
        add.Arguments.Add(uuidArgument);
        add.Options.Add(secretOption);
        add.Options.Add(stepOption);
        add.Options.Add(digitsOption);
        add.Options.Add(dataDirOption);
        add.Options.Add(configOutOption);
        add.Options.Add(registrarUrlOption);
        add.Options.Add(publicHostOption);
        add.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;

            string? uuidText = parseResult.GetValue(uuidArgument);
            string? uuid;
            if (uuidText is null)
            {
                uuid = Guid.NewGuid().ToString("D");
            }
            else if (!SecretFormat.TryNormalizeUuid(uuidText, out uuid))
            {
                await error.WriteLineAsync($"'{uuidText}' is not a UUID; expected the form 123e4567-e89b-12d3-a456-426614174000.").ConfigureAwait(false);
                return BadInput;
            }

            string? secretText = parseResult.GetValue(secretOption);
            byte[]? secret;
            if (secretText is null)
            {
                secret = SecretFormat.CreateRandomSecret();
            }
            else if (!SecretFormat.TryParseBase32(secretText, out secret))
            {
                await error.WriteLineAsync(
                    $"--secret '{secretText}' is not valid base32 of at least {SecretFormat.MinimumSecretBytes * 8} bits; expected letters A-Z and digits 2-7, at least 16 characters.").ConfigureAwait(false);
                return BadInput;
            }

            int step = parseResult.GetValue(stepOption);
            if (!SecretFormat.IsValidStep(step))
            {
                await error.WriteLineAsync(
                    $"--step {step} is out of range; it must be between {SecretFormat.MinimumStep} and {SecretFormat.MaximumStep} seconds.").ConfigureAwait(false);
                return BadInput;
            }

            int digits = parseResult.GetValue(digitsOption);
            if (!SecretFormat.IsValidDigits(digits))
            {
                await error.WriteLineAsync(
                    $"--digits {digits} is out of range; it must be between {SecretFormat.MinimumDigits} and {SecretFormat.MaximumDigits}.").ConfigureAwait(false);
                return BadInput;
            }

            string dataDirectory = parseResult.GetValue(dataDirOption)!;
            string? configOut = parseResult.GetValue(configOutOption);
            string? registrarUrlText = parseResult.GetValue(registrarUrlOption);
            string? publicHost = parseResult.GetValue(publicHostOption);
            Uri? registrarUrl = null;
            string? fingerprint = null;
            if (configOut is null && (registrarUrlText is not null || publicHost is not null))
            {
                await error.WriteLineAsync("--registrar-url and --public-host go with --config-out FILE.").ConfigureAwait(false);
                return BadInput;
            }

            if (configOut is not null)
            {
                if (registrarUrlText is null)
                {
                    registrarUrl = HiddenServerConfig.DefaultRegistrarUrl(publicHost);
                }
                else if (!Uri.TryCreate(registrarUrlText, UriKind.Absolute, out registrarUrl)
                    || (registrarUrl.Scheme != Uri.UriSchemeHttps && registrarUrl.Scheme != Uri.UriSchemeHttp)
                    || string.IsNullOrEmpty(registrarUrl.Host))
                {
                    await error.WriteLineAsync(
                        $"--registrar-url '{registrarUrlText}' is not an https:// URL; expected e.g. https://rendezvous.example.com:8898/.").ConfigureAwait(false);
                    return BadInput;
                }

                // The certificate serve will use (made now if it does not exist yet), so the file can pin it.
                try
                {
                    RegistrarCertificateResult certificate = RegistrarCertificates.LoadOrCreate(
                        dataDirectory, publicHost is { Length: > 0 } ? [publicHost] : []);
                    fingerprint = certificate.Sha256Fingerprint;
                    certificate.Certificate.Dispose();
                }
                catch (ArgumentException e)
                {
                    await error.WriteLineAsync($"--public-host '{publicHost}' is not a host name or IP address: {e.Message}").ConfigureAwait(false);
                    return BadInput;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or System.Security.Cryptography.CryptographicException)
                {
                    await error.WriteLineAsync($"Cannot use the registrar certificate in {Path.GetFullPath(dataDirectory)}: {e.Message}").ConfigureAwait(false);
                    return Failed;
                }
            }

            var entry = new SecretEntry(uuid, secret, step, digits, TimeProvider.System.GetUtcNow());
            SqliteSecretStore store = SqliteSecretStore.ForDataDirectory(dataDirectory);
            try
            {
                await store.AddAsync(entry, cancellationToken).ConfigureAwait(false);
            }
            catch (DuplicateSecretException)
            {
                await error.WriteLineAsync(
                    $"UUID {uuid} already has a secret in {store.DatabasePath}; remove it first with 'rendezvous users remove {uuid}'.").ConfigureAwait(false);
                return BadInput;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
            {
                return await ReportStoreFailureAsync(error, store, e).ConfigureAwait(false);
            }

            if (configOut is not null)
            {
                var config = new HiddenServerConfig(registrarUrl!, entry.Uuid, SecretFormat.ToBase32(entry.Secret), step, digits, fingerprint!);
                try
                {
                    config.Write(configOut);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
                {
                    // Leave nothing half done: the entry goes again when its config file cannot be written.
                    await store.RemoveAsync(entry.Uuid, CancellationToken.None).ConfigureAwait(false);
                    await error.WriteLineAsync($"Cannot write the config file '{configOut}': {e.Message}; {entry.Uuid} was not added.").ConfigureAwait(false);
                    return Failed;
                }
            }

            await output.WriteLineAsync($"UUID:   {entry.Uuid}").ConfigureAwait(false);
            await output.WriteLineAsync($"Secret: {SecretFormat.ToBase32(entry.Secret)}").ConfigureAwait(false);
            await output.WriteLineAsync($"URI:    {entry.ToOtpAuthUri()}").ConfigureAwait(false);
            if (configOut is not null)
            {
                await output.WriteLineAsync($"Config: {Path.GetFullPath(configOut)} (registrar {registrarUrl}, fingerprint {fingerprint})").ConfigureAwait(false);
            }

            return 0;
        });
        return add;
    }

    private static Command CreateList()
    {
        Option<string> dataDirOption = CreateDataDirOption();
        var list = new Command("list", "List the hidden servers (never their secrets).");
        list.Options.Add(dataDirOption);
        list.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            SqliteSecretStore store = SqliteSecretStore.ForDataDirectory(parseResult.GetValue(dataDirOption)!);
            IReadOnlyList<SecretEntry> entries;
            try
            {
                entries = await store.ListAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
            {
                return await ReportStoreFailureAsync(parseResult.InvocationConfiguration.Error, store, e).ConfigureAwait(false);
            }

            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{"UUID",-36}  {"STEP",4}  {"DIGITS",6}  CREATED")).ConfigureAwait(false);
            foreach (SecretEntry entry in entries)
            {
                await output.WriteLineAsync(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{entry.Uuid,-36}  {entry.Step,4}  {entry.Digits,6}  {entry.CreatedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z")).ConfigureAwait(false);
            }

            return 0;
        });
        return list;
    }

    private static Command CreateRemove()
    {
        var uuidArgument = new Argument<string>("uuid") { Description = "The hidden server's UUID." };
        Option<string> dataDirOption = CreateDataDirOption();
        var remove = new Command("remove", "Remove a hidden server; it can no longer register.");
        remove.Arguments.Add(uuidArgument);
        remove.Options.Add(dataDirOption);
        remove.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            string uuidText = parseResult.GetValue(uuidArgument)!;
            if (!SecretFormat.TryNormalizeUuid(uuidText, out string? uuid))
            {
                await error.WriteLineAsync($"'{uuidText}' is not a UUID; expected the form 123e4567-e89b-12d3-a456-426614174000.").ConfigureAwait(false);
                return BadInput;
            }

            SqliteSecretStore store = SqliteSecretStore.ForDataDirectory(parseResult.GetValue(dataDirOption)!);
            bool removed;
            try
            {
                removed = await store.RemoveAsync(uuid, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
            {
                return await ReportStoreFailureAsync(error, store, e).ConfigureAwait(false);
            }

            if (!removed)
            {
                await error.WriteLineAsync($"UUID {uuid} has no secret in {store.DatabasePath}; nothing removed.").ConfigureAwait(false);
                return Failed;
            }

            await output.WriteLineAsync($"Removed {uuid}.").ConfigureAwait(false);
            return 0;
        });
        return remove;
    }

    private static async Task<int> ReportStoreFailureAsync(TextWriter error, SqliteSecretStore store, Exception exception)
    {
        await error.WriteLineAsync($"Cannot use the secret database {store.DatabasePath}: {exception.Message}").ConfigureAwait(false);
        return Failed;
    }
}
