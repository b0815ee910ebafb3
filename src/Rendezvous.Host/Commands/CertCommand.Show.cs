using System.CommandLine;
using System.Security.Cryptography;
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

        byte[] content;
        try
        {
            content = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"{Prefix}cannot read '{path}': {ex.Message}");
            return Failure;
        }

        using X509Certificate2? loaded = TryLoadCertificate(content);
        if (loaded is null)
        {
            error.WriteLine($"{Prefix}'{path}' holds no certificate: expected a PEM file with a -----BEGIN CERTIFICATE----- block (like {RegistrarCertificates.CertificateFileName}), or a DER certificate; a key file (.key) cannot be shown.");
            return BadInput;
        }

        var names = loaded.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault() is { } san
            ? string.Join(", ", san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(a => a.ToString())))
            : string.Empty;
        var now = DateTime.UtcNow;
        var state = now < loaded.NotBefore.ToUniversalTime() ? " (not valid yet)" : now > loaded.NotAfter.ToUniversalTime() ? " (expired)" : string.Empty;
        output.WriteLine($"Certificate:         {path}");
        output.WriteLine($"SHA-256 fingerprint: {RegistrarCertificates.GetSha256Fingerprint(loaded)}");
        output.WriteLine($"Subject:             {loaded.Subject}");
        output.WriteLine($"Names:               {(names.Length > 0 ? names : "none")}");
        output.WriteLine($"Issuer:              {(loaded.SubjectName.RawData.AsSpan().SequenceEqual(loaded.IssuerName.RawData) ? "itself (self-signed)" : loaded.Issuer)}");
        output.WriteLine($"Valid from:          {Utc(loaded.NotBefore)}");
        output.WriteLine($"Valid until:         {Utc(loaded.NotAfter)}{state}");
        return Success;
    }

    /// <summary>The first certificate of a PEM file (further blocks ignored), or a DER certificate; <see langword="null"/> when there is none.</summary>
    private static X509Certificate2? TryLoadCertificate(byte[] content)
    {
        string text;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content);
        }
        catch (ArgumentException)
        {
            text = string.Empty;
        }

        ReadOnlySpan<char> rest = text;
        while (PemEncoding.TryFind(rest, out PemFields fields))
        {
            if (rest[fields.Label].SequenceEqual("CERTIFICATE"))
            {
                return TryLoadDer(Convert.FromBase64String(rest[fields.Base64Data].ToString()));
            }

            rest = rest[fields.Location.End..];
        }

        return text.Contains("-----BEGIN", StringComparison.Ordinal) ? null : TryLoadDer(content);
    }

    private static X509Certificate2? TryLoadDer(byte[] der)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}
