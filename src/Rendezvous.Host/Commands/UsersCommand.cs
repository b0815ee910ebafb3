using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Rendezvous.Security;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous users add|list|show|remove|rotate|export|import</c>: provision hidden servers' TOTP secrets.</summary>
internal static partial class UsersCommand
{
    /// <summary>Exit code for input that is refused (bad UUID, secret, step or digits, duplicate UUID).</summary>
    public const int BadInput = 2;

    /// <summary>Exit code when the operation could not be done (UUID absent, database or Redis unreachable).</summary>
    public const int Failed = 1;

    internal const string DataDirectoryVariable = "Rendezvous__DataDirectory";

    public static Command Create()
    {
        var users = new Command("users", "Manage the hidden servers allowed to register: their UUIDs and TOTP secrets.");
        users.Subcommands.Add(CreateAdd());
        users.Subcommands.Add(CreateList());
        users.Subcommands.Add(CreateShow());
        users.Subcommands.Add(CreateRemove());
        users.Subcommands.Add(CreateRotate());
        users.Subcommands.Add(CreateExport());
        users.Subcommands.Add(CreateImport());
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

    /// <summary>A <c>--secret BASE32</c> option; read it with <see cref="TryGetSecretOption"/>.</summary>
    private static Option<string?> CreateSecretOption(string what) => new("--secret")
    {
        Description = $"{what} in base32, at least {SecretFormat.MinimumSecretBytes * 8} bits. A random {SecretFormat.GeneratedSecretBytes * 8}-bit one is made when omitted.",
        HelpName = "BASE32",
    };

    private static Argument<string> CreateUuidArgument() => new("uuid") { Description = "The hidden server's UUID." };

    private static Command CreateAdd()
    {
        var uuidArgument = new Argument<string?>("uuid")
        {
            Description = "The hidden server's UUID. A random one is made when omitted.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        Option<string?> secretOption = CreateSecretOption("The shared secret");
        var stepOption = new Option<int>("--step")
        {
            Description = $"The TOTP time step in seconds, {SecretFormat.MinimumStep}..{SecretFormat.MaximumStep}.",
            DefaultValueFactory = _ => SecretFormat.DefaultStep,
            CustomParser = CommandSupport.WholeNumber(SecretFormat.DefaultStep, $"seconds from {SecretFormat.MinimumStep} to {SecretFormat.MaximumStep}"),
        };
        var digitsOption = new Option<int>("--digits")
        {
            Description = $"The number of digits of a code, {SecretFormat.MinimumDigits}..{SecretFormat.MaximumDigits}.",
            DefaultValueFactory = _ => SecretFormat.DefaultDigits,
            CustomParser = CommandSupport.WholeNumber(SecretFormat.DefaultDigits, $"{SecretFormat.MinimumDigits} to {SecretFormat.MaximumDigits}"),
        };
        Option<string> dataDirOption = CreateDataDirOption();
        Option<string?> clusterOption = CreateClusterOption();
        var configFile = new ConfigFileOptions(required: false);

        var add = new Command("add", "Add a hidden server; prints its UUID, secret and otpauth:// URI.");
        add.Arguments.Add(uuidArgument);
        add.Options.Add(secretOption);
        add.Options.Add(stepOption);
        add.Options.Add(digitsOption);
        add.Options.Add(dataDirOption);
        add.Options.Add(clusterOption);
        configFile.AddTo(add);
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
                await error.WriteLineAsync(NotAUuid(uuidText)).ConfigureAwait(false);
                return BadInput;
            }

            if (!TryGetSecretOption(parseResult, secretOption, out byte[]? secret, out string? secretProblem))
            {
                await error.WriteLineAsync(secretProblem).ConfigureAwait(false);
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
            (ConfigFileTarget? configTarget, int configFailure) = await configFile.ResolveAsync(parseResult, dataDirectory, error).ConfigureAwait(false);
            if (configFailure != 0)
            {
                return configFailure;
            }

            var entry = new SecretEntry(uuid, secret, step, digits, TimeProvider.System.GetUtcNow());
            (UsersStore? store, int openFailure) = await OpenStoreAsync(parseResult, dataDirOption, clusterOption, error).ConfigureAwait(false);
            if (store is null)
            {
                return openFailure;
            }

            await using var storeScope = store.ConfigureAwait(false);
            try
            {
                await store.Store.AddAsync(entry, cancellationToken).ConfigureAwait(false);
            }
            catch (DuplicateSecretException)
            {
                await error.WriteLineAsync(
                    $"UUID {uuid} already has a secret in {store.Name}; remove it first with 'rendezvous users remove {uuid}'.").ConfigureAwait(false);
                return BadInput;
            }
            catch (Exception e) when (UsersStore.IsFailure(e))
            {
                return await store.ReportFailureAsync(error, e).ConfigureAwait(false);
            }

            if (configTarget is not null && !configTarget.TryWrite(entry, error, out string? writeProblem))
            {
                // Leave nothing half done: the entry goes again when its config file cannot be written.
                await store.Store.RemoveAsync(entry.Uuid, CancellationToken.None).ConfigureAwait(false);
                await error.WriteLineAsync($"{writeProblem}; {entry.Uuid} was not added.").ConfigureAwait(false);
                return Failed;
            }

            await WriteFieldsAsync(output, [("UUID:", entry.Uuid), .. SecretFields(entry), .. ConfigFields(configTarget)]).ConfigureAwait(false);
            return 0;
        });
        return add;
    }

    private static Command CreateList()
    {
        Option<string> dataDirOption = CreateDataDirOption();
        Option<string?> clusterOption = CreateClusterOption();
        var list = new Command("list", "List the hidden servers (never their secrets).");
        list.Options.Add(dataDirOption);
        list.Options.Add(clusterOption);
        list.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            (UsersStore? store, int openFailure) = await OpenStoreAsync(parseResult, dataDirOption, clusterOption, error).ConfigureAwait(false);
            if (store is null)
            {
                return openFailure;
            }

            await using var storeScope = store.ConfigureAwait(false);
            IReadOnlyList<SecretEntry> entries = [];
            try
            {
                if (!store.IsMissing)
                {
                    entries = await store.Store.ListAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await error.WriteLineAsync(store.MissingMessage).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (UsersStore.IsFailure(e))
            {
                return await store.ReportFailureAsync(error, e).ConfigureAwait(false);
            }

            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{"UUID",-36}  {"STEP",4}  {"DIGITS",6}  CREATED")).ConfigureAwait(false);
            foreach (SecretEntry entry in entries)
            {
                await output.WriteLineAsync(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{entry.Uuid,-36}  {entry.Step,4}  {entry.Digits,6}  {FormatCreated(entry)}")).ConfigureAwait(false);
            }

            return 0;
        });
        return list;
    }

    private static Command CreateRemove()
    {
        Argument<string> uuidArgument = CreateUuidArgument();
        Option<string> dataDirOption = CreateDataDirOption();
        Option<string?> clusterOption = CreateClusterOption();
        var remove = new Command("remove", "Remove a hidden server; it can no longer register.");
        remove.Arguments.Add(uuidArgument);
        remove.Options.Add(dataDirOption);
        remove.Options.Add(clusterOption);
        remove.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            string uuidText = parseResult.GetValue(uuidArgument)!;
            if (!SecretFormat.TryNormalizeUuid(uuidText, out string? uuid))
            {
                await error.WriteLineAsync(NotAUuid(uuidText)).ConfigureAwait(false);
                return BadInput;
            }

            (UsersStore? store, int openFailure) = await OpenStoreAsync(parseResult, dataDirOption, clusterOption, error).ConfigureAwait(false);
            if (store is null)
            {
                return openFailure;
            }

            await using var storeScope = store.ConfigureAwait(false);
            if (store.IsMissing)
            {
                await error.WriteLineAsync(store.MissingMessage).ConfigureAwait(false);
                return Failed;
            }

            bool removed;
            try
            {
                removed = await store.Store.RemoveAsync(uuid, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (UsersStore.IsFailure(e))
            {
                return await store.ReportFailureAsync(error, e).ConfigureAwait(false);
            }

            if (!removed)
            {
                await error.WriteLineAsync($"UUID {uuid} has no secret in {store.Name}; nothing removed.").ConfigureAwait(false);
                return Failed;
            }

            await output.WriteLineAsync($"Removed {uuid}.").ConfigureAwait(false);
            return 0;
        });
        return remove;
    }

    /// <summary>
    /// Looks up the entry a command names by its UUID argument: a malformed UUID, an absent entry or an
    /// unusable database is reported on <paramref name="error"/> and gives the exit code instead.
    /// </summary>
    private static async Task<(SecretEntry? Entry, int Failure)> FindEntryAsync(
        string uuidText, UsersStore store, TextWriter error, CancellationToken cancellationToken)
    {
        if (!SecretFormat.TryNormalizeUuid(uuidText, out string? uuid))
        {
            await error.WriteLineAsync(NotAUuid(uuidText)).ConfigureAwait(false);
            return (null, BadInput);
        }

        if (store.IsMissing)
        {
            await error.WriteLineAsync(store.MissingMessage).ConfigureAwait(false);
            return (null, Failed);
        }

        SecretEntry? entry;
        try
        {
            entry = await store.Store.TryGetAsync(uuid, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (UsersStore.IsFailure(e))
        {
            return (null, await store.ReportFailureAsync(error, e).ConfigureAwait(false));
        }

        if (entry is null)
        {
            await error.WriteLineAsync(
                $"UUID {uuid} has no secret in {store.Name}; 'rendezvous users list' shows the UUIDs there, 'rendezvous users add {uuid}' adds it.").ConfigureAwait(false);
            return (null, Failed);
        }

        return (entry, 0);
    }

    /// <summary>Reads a <c>--secret BASE32</c> option: a random secret when absent, the problem (naming the value) when malformed.</summary>
    private static bool TryGetSecretOption(
        ParseResult parseResult, Option<string?> secretOption, [NotNullWhen(true)] out byte[]? secret, [NotNullWhen(false)] out string? problem)
    {
        string? secretText = parseResult.GetValue(secretOption);
        if (secretText is null)
        {
            secret = SecretFormat.CreateRandomSecret();
            problem = null;
            return true;
        }

        if (SecretFormat.TryParseBase32(secretText, out secret))
        {
            problem = null;
            return true;
        }

        problem = $"--secret '{secretText}' is not valid base32 of at least {SecretFormat.MinimumSecretBytes * 8} bits; expected letters A-Z and digits 2-7, at least 16 characters.";
        return false;
    }

    private static string NotAUuid(string text) => $"'{text}' is not a UUID; expected the form 123e4567-e89b-12d3-a456-426614174000.";

    private static string FormatCreated(SecretEntry entry) =>
        string.Create(CultureInfo.InvariantCulture, $"{entry.CreatedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z");

    /// <summary>The lines that hand a secret over: base32 and the otpauth:// URI.</summary>
    private static (string Label, string Value)[] SecretFields(SecretEntry entry) =>
        [("Secret:", SecretFormat.ToBase32(entry.Secret)), ("URI:", entry.ToOtpAuthUri())];

    private static (string Label, string Value)[] ConfigFields(ConfigFileTarget? target) =>
        target is null ? [] : [("Config:", target.Describe())];

    /// <summary>Writes <c>Label: value</c> lines with the values aligned.</summary>
    private static async Task WriteFieldsAsync(TextWriter output, IReadOnlyList<(string Label, string Value)> fields)
    {
        int width = fields.Max(field => field.Label.Length) + 1;
        foreach ((string label, string value) in fields)
        {
            await output.WriteLineAsync(label.PadRight(width) + value).ConfigureAwait(false);
        }
    }
}
