using System.CommandLine;
using System.Globalization;
using Rendezvous.Security;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous users show</c>.</summary>
internal static partial class UsersCommand
{
    private static Command CreateShow()
    {
        Argument<string> uuidArgument = CreateUuidArgument();
        Option<string> dataDirOption = CreateDataDirOption();
        Option<string?> clusterOption = CreateClusterOption();
        var secretOption = new Option<bool>("--secret")
        {
            Description = "Also print the base32 secret and the otpauth:// URI (both are the secret: mind who sees the screen).",
        };

        var show = new Command("show", "Show one hidden server's entry: UUID, step, digits, creation time, and with --secret its secret.");
        show.Arguments.Add(uuidArgument);
        show.Options.Add(dataDirOption);
        show.Options.Add(clusterOption);
        show.Options.Add(secretOption);
        show.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            (UsersStore? store, int openFailure) = await OpenStoreAsync(parseResult, dataDirOption, clusterOption, parseResult.InvocationConfiguration.Error).ConfigureAwait(false);
            if (store is null)
            {
                return openFailure;
            }

            await using var storeScope = store.ConfigureAwait(false);
            (SecretEntry? entry, int failure) = await FindEntryAsync(
                parseResult.GetValue(uuidArgument)!, store, parseResult.InvocationConfiguration.Error, cancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                return failure;
            }

            (string Label, string Value)[] fields =
            [
                ("UUID:", entry.Uuid),
                ("Step:", entry.Step.ToString(CultureInfo.InvariantCulture)),
                ("Digits:", entry.Digits.ToString(CultureInfo.InvariantCulture)),
                ("Created:", FormatCreated(entry)),
            ];
            if (parseResult.GetValue(secretOption))
            {
                fields = [.. fields, .. SecretFields(entry)];
            }

            await WriteFieldsAsync(parseResult.InvocationConfiguration.Output, fields).ConfigureAwait(false);
            return 0;
        });
        return show;
    }
}
