using System.CommandLine;
using Rendezvous.Security;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous users rotate</c>.</summary>
internal static partial class UsersCommand
{
    private static Command CreateRotate()
    {
        Argument<string> uuidArgument = CreateUuidArgument();
        Option<string> dataDirOption = CreateDataDirOption();
        Option<string?> clusterOption = CreateClusterOption();
        Option<string?> secretOption = CreateSecretOption("The new shared secret");
        var configFile = new ConfigFileOptions(required: false);

        var rotate = new Command(
            "rotate",
            "Give a hidden server a new secret (its step and digits stay); codes from the old one stop working at once. Prints the new secret and otpauth:// URI.");
        rotate.Arguments.Add(uuidArgument);
        rotate.Options.Add(dataDirOption);
        rotate.Options.Add(clusterOption);
        rotate.Options.Add(secretOption);
        configFile.AddTo(rotate);
        rotate.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter error = parseResult.InvocationConfiguration.Error;
            if (!TryGetSecretOption(parseResult, secretOption, out byte[]? secret, out string? secretProblem))
            {
                await error.WriteLineAsync(secretProblem).ConfigureAwait(false);
                return BadInput;
            }

            string dataDirectory = parseResult.GetValue(dataDirOption)!;
            (UsersStore? store, int openFailure) = await OpenStoreAsync(parseResult, dataDirOption, clusterOption, error).ConfigureAwait(false);
            if (store is null)
            {
                return openFailure;
            }

            await using var storeScope = store.ConfigureAwait(false);
            (SecretEntry? previous, int failure) = await FindEntryAsync(parseResult.GetValue(uuidArgument)!, store, error, cancellationToken).ConfigureAwait(false);
            if (previous is null)
            {
                return failure;
            }

            (ConfigFileTarget? configTarget, int configFailure) = await configFile.ResolveAsync(parseResult, dataDirectory, error).ConfigureAwait(false);
            if (configFailure != 0)
            {
                return configFailure;
            }

            bool replaced;
            try
            {
                replaced = await store.Store.ReplaceSecretAsync(previous.Uuid, secret, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (UsersStore.IsFailure(e))
            {
                return await store.ReportFailureAsync(error, e).ConfigureAwait(false);
            }

            if (!replaced)
            {
                await error.WriteLineAsync($"UUID {previous.Uuid} was removed from {store.Name} meanwhile; nothing rotated.").ConfigureAwait(false);
                return Failed;
            }

            SecretEntry rotated = previous with { Secret = secret };
            if (configTarget is not null && !configTarget.TryWrite(rotated, error, out string? writeProblem))
            {
                // Leave nothing half done: the hidden server keeps the secret it has when its new config file cannot be written.
                await store.Store.ReplaceSecretAsync(previous.Uuid, previous.Secret, CancellationToken.None).ConfigureAwait(false);
                await error.WriteLineAsync($"{writeProblem}; the secret of {previous.Uuid} was not rotated.").ConfigureAwait(false);
                return Failed;
            }

            await WriteFieldsAsync(
                parseResult.InvocationConfiguration.Output,
                [("UUID:", rotated.Uuid), .. SecretFields(rotated), .. ConfigFields(configTarget)]).ConfigureAwait(false);
            return 0;
        });
        return rotate;
    }
}
