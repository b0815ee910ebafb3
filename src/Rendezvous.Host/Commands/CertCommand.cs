using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Host.Commands;

/// <summary>
/// <c>rendezvous cert create</c>: writes a self-signed registrar certificate and key, as
/// node-rendezvous's make-cert.js did; <c>rendezvous cert show</c>: prints a certificate's fingerprint again.
/// </summary>
internal static partial class CertCommand
{
    /// <summary>Exit code when the certificate was written.</summary>
    public const int Success = 0;

    /// <summary>Exit code when the files could not be written.</summary>
    public const int Failure = 1;

    /// <summary>Exit code for bad input, including a refusal to overwrite existing files.</summary>
    public const int BadInput = 2;

    private const int DefaultDays = 3650;
    private const int MaximumDays = 36500;

    /// <summary>The base name of the files <c>create</c> writes by default: registrar.crt and registrar.key.</summary>
    private static readonly string DefaultName = Path.GetFileNameWithoutExtension(RegistrarCertificates.CertificateFileName);

    private static readonly System.Buffers.SearchValues<char> AllowedNameCharacters =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");

    /// <summary>Builds the <c>cert</c> command and its subcommands.</summary>
    public static Command Create()
    {
        var cert = new Command("cert", "Manage the registrar's TLS certificate.");
        cert.Subcommands.Add(CreateCreateCommand());
        cert.Subcommands.Add(CreateShowCommand());
        return cert;
    }

    private static Command CreateCreateCommand()
    {
        var commonName = new Option<string>("--cn")
        {
            Description = "Common name (CN) of the certificate: the host name or IP address clients reach the registrar by. Also added as a subject alternative name.",
            HelpName = "name",
            Required = true,
        };
        var alternativeNames = new Option<string[]>("--san")
        {
            Description = "A further subject alternative name (host name or IP address); repeat for more.",
            HelpName = "name",
        };
        // Taken as text and checked in the action, so that every bad value gets exit code 2 and one clear line.
        var days = new Option<string>("--days")
        {
            Description = $"Days the certificate is valid, from 1 to {MaximumDays}.",
            HelpName = "days",
            DefaultValueFactory = _ => DefaultDays.ToString(CultureInfo.InvariantCulture),
        };
        var output = new Option<string>("--out")
        {
            Description = "Directory to write NAME.crt and NAME.key to; created if missing. Defaults to the current directory.",
            HelpName = "dir",
            DefaultValueFactory = _ => ".",
        };
        var name = new Option<string>("--name")
        {
            Description = $"Base name of the files: NAME.crt and NAME.key. Defaults to {DefaultName} ({RegistrarCertificates.CertificateFileName} and {RegistrarCertificates.KeyFileName}, the names serve looks for in its data directory).",
            HelpName = "name",
            DefaultValueFactory = _ => DefaultName,
        };
        var force = new Option<bool>("--force")
        {
            Description = "Replace existing certificate and key files.",
        };

        var command = new Command(
            "create",
            $"Write a self-signed ECDSA P-256 certificate (NAME.crt, default {RegistrarCertificates.CertificateFileName}) and its private key (NAME.key, mode 0600) and print the SHA-256 fingerprint clients pin.")
        {
            commonName,
            alternativeNames,
            days,
            output,
            name,
            force,
        };

        command.SetAction(parseResult => Run(
            parseResult.GetValue(commonName),
            parseResult.GetValue(alternativeNames) ?? [],
            parseResult.GetValue(days),
            parseResult.GetValue(output),
            parseResult.GetValue(name),
            parseResult.GetValue(force),
            parseResult.InvocationConfiguration.Output,
            parseResult.InvocationConfiguration.Error));
        return command;
    }

    private static int Run(
        string? commonName,
        string[] alternativeNames,
        string? daysText,
        string? outputDirectory,
        string? baseName,
        bool force,
        TextWriter output,
        TextWriter error)
    {
        const string Prefix = "rendezvous cert create: ";

        string cn = commonName?.Trim() ?? string.Empty;
        if (!RegistrarCertificates.IsValidSubjectAlternativeName(cn))
        {
            error.WriteLine($"{Prefix}--cn '{commonName}' is not accepted; give a host name (letters, digits, hyphens and dots) or an IP address.");
            return BadInput;
        }

        var names = new List<string>();
        foreach (string raw in alternativeNames)
        {
            string name = raw?.Trim() ?? string.Empty;
            if (!RegistrarCertificates.IsValidSubjectAlternativeName(name))
            {
                error.WriteLine($"{Prefix}--san '{raw}' is not accepted; give a host name (letters, digits, hyphens and dots) or an IP address.");
                return BadInput;
            }

            names.Add(name);
        }

        if (!int.TryParse(daysText, NumberStyles.Integer, CultureInfo.InvariantCulture, out int days) || days is < 1 or > MaximumDays)
        {
            error.WriteLine($"{Prefix}--days '{daysText}' is not accepted; give a whole number of days from 1 to {MaximumDays}.");
            return BadInput;
        }

        if (string.IsNullOrWhiteSpace(outputDirectory))
        {
            error.WriteLine($"{Prefix}--out '{outputDirectory}' is not accepted; give a directory path.");
            return BadInput;
        }

        string directory;
        try
        {
            directory = Path.GetFullPath(outputDirectory);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            error.WriteLine($"{Prefix}--out '{outputDirectory}' is not accepted; give a directory path ({ex.Message}).");
            return BadInput;
        }

        if (!IsValidBaseName(baseName))
        {
            error.WriteLine($"{Prefix}--name '{baseName}' is not accepted; give a file name without folder or extension (letters, digits, '.', '-' and '_', not starting with '.'), e.g. e2e for e2e.crt and e2e.key.");
            return BadInput;
        }

        string certificatePath = Path.Combine(directory, baseName + ".crt");
        string keyPath = Path.Combine(directory, baseName + ".key");
        try
        {
            RegistrarCertificateResult created = RegistrarCertificates.CreatePemFiles(
                certificatePath, keyPath, cn, names, TimeSpan.FromDays(days), overwrite: force);
            using X509Certificate2 certificate = created.Certificate;
            output.Write(RegistrarCertificateDescription.FormatFields(
            [
                new("Certificate", created.CertificatePath),
                new("Private key", created.KeyPath),
                new("SHA-256 fingerprint", created.Sha256Fingerprint),
                new("Valid until", RegistrarCertificateDescription.FormatTime(certificate.NotAfter)),
            ]));
            return Success;
        }
        catch (CertificateFileExistsException ex)
        {
            error.WriteLine($"{Prefix}'{ex.Path}' already exists; pass --force to replace it.");
            return BadInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            error.WriteLine($"{Prefix}could not write the certificate to '{directory}': {ex.Message}");
            return Failure;
        }
    }

    /// <summary>A base name for the files: letters, digits, '.', '-' and '_', not starting with '.', without a .crt or .key ending.</summary>
    private static bool IsValidBaseName([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? name) =>
        name is { Length: > 0 and <= 100 }
        && name[0] != '.'
        && name.AsSpan().IndexOfAnyExcept(AllowedNameCharacters) < 0
        && !name.EndsWith(".crt", StringComparison.OrdinalIgnoreCase)
        && !name.EndsWith(".key", StringComparison.OrdinalIgnoreCase);
}
