using System.CommandLine;
using Rendezvous.Security;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous users export</c>.</summary>
internal static partial class UsersCommand
{
    private static Command CreateExport()
    {
        Argument<string> uuidArgument = CreateUuidArgument();
        Option<string> dataDirOption = CreateDataDirOption();
        Option<string?> clusterOption = CreateClusterOption();
        var configFile = new ConfigFileOptions(required: true);

        var export = new Command("export", "Write the config file for 'rendezvous expose --config' of an existing hidden server (mode 0600).");
        export.Arguments.Add(uuidArgument);
        export.Options.Add(dataDirOption);
        export.Options.Add(clusterOption);
        configFile.AddTo(export);
        export.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter error = parseResult.InvocationConfiguration.Error;
            string dataDirectory = parseResult.GetValue(dataDirOption)!;
            (UsersStore? store, int openFailure) = await OpenStoreAsync(parseResult, dataDirOption, clusterOption, error).ConfigureAwait(false);
            if (store is null)
            {
                return openFailure;
            }

            await using var storeScope = store.ConfigureAwait(false);
            (SecretEntry? entry, int failure) = await FindEntryAsync(parseResult.GetValue(uuidArgument)!, store, error, cancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                return failure;
            }

            (ConfigFileTarget? configTarget, int configFailure) = await configFile.ResolveAsync(parseResult, dataDirectory, error).ConfigureAwait(false);
            if (configFailure != 0)
            {
                return configFailure;
            }

            if (!configTarget!.TryWrite(entry, error, out string? writeProblem))
            {
                await error.WriteLineAsync(writeProblem + ".").ConfigureAwait(false);
                return Failed;
            }

            await WriteFieldsAsync(parseResult.InvocationConfiguration.Output, [("UUID:", entry.Uuid), .. ConfigFields(configTarget)]).ConfigureAwait(false);
            return 0;
        });
        return export;
    }
}
