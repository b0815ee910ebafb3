using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Security;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous cert show</c>: a certificate's SHA-256 fingerprint (as <c>serve</c> logs it), subject, names and validity.</summary>
internal static partial class CertCommand
{
    private static Command CreateShowCommand()
    {
        var dataDirectory = new Option<string?>("--data-dir")
        {
            Description = $"The data directory whose {RegistrarCertificates.CertificateFileName} to show (the one serve generates or uses). Defaults to ${UsersCommand.DataDirectoryVariable}, else {TotpSecurityOptions.DefaultDataDirectory}.",
            HelpName = "dir",
        };
        var certificate = new Option<string?>("--cert")
        {
            Description = "A certificate file (PEM, or DER) to show instead, e.g. the one passed to serve --cert.",
            HelpName = "file",
        };
        var command = new Command(
            "show",
            "Print the SHA-256 fingerprint clients pin (as serve logs it at start), the subject, the names and the validity of the registrar's certificate.")
        {
            dataDirectory,
            certificate,
        };
        command.SetAction(parseResult => Show(
            parseResult.GetValue(dataDirectory),
            parseResult.GetValue(certificate),
            parseResult.InvocationConfiguration.Output,
            parseResult.InvocationConfiguration.Error));
        return command;
    }

    private static int Show(string? dataDirectory, string? certificateFile, TextWriter output, TextWriter error)
    {
        const string Prefix = "rendezvous cert show: ";
        if (dataDirectory is not null && certificateFile is not null)
        {
            error.WriteLine($"{Prefix}give --data-dir or --cert, not both.");
            return BadInput;
        }

        if (certificateFile is { } given && string.IsNullOrWhiteSpace(given))
        {
            error.WriteLine($"{Prefix}--cert '{given}' is not accepted; give a certificate file.");
            return BadInput;
        }

        dataDirectory ??= Environment.GetEnvironmentVariable(UsersCommand.DataDirectoryVariable) is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : TotpSecurityOptions.DefaultDataDirectory;
        string path;
        try
        {
            path = Path.GetFullPath(certificateFile ?? Path.Combine(dataDirectory, RegistrarCertificates.CertificateFileName));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            error.WriteLine($"{Prefix}'{certificateFile ?? dataDirectory}' is not a usable path ({ex.Message}).");
            return BadInput;
        }

        if (!File.Exists(path))
        {
            error.WriteLine(certificateFile is null
                ? $"{Prefix}there is no certificate at '{path}'. Check --data-dir (the service's data directory, e.g. /var/lib/rendezvous, or ${UsersCommand.DataDirectoryVariable}); serve generates {RegistrarCertificates.CertificateFileName} there at its first start, unless it was given --cert FILE: then show that file with --cert FILE."
                : $"{Prefix}there is no file '{path}'; give the certificate file with --cert FILE.");
            return BadInput;
        }

        X509Certificate2 loaded;
        try
        {
            loaded = RegistrarCertificates.LoadCertificateFile(path);
        }
        catch (InvalidDataException ex)
        {
            error.WriteLine($"{Prefix}{ex.Message}");
            return BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{Prefix}{ex.Message}");
            return Failure;
        }

        using (loaded)
        {
            output.Write(RegistrarCertificateDescription.FormatFields(
                [new("Certificate", path), .. RegistrarCertificates.Describe(loaded).ToFields(DateTimeOffset.UtcNow)]));
        }

        return Success;
    }
}
