using System.CommandLine;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Registrar;
using Rendezvous.Security;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Host.Commands;

/// <summary>The one way <c>users add</c>, <c>rotate</c> and <c>export</c> make a hidden server's config file.</summary>
internal static partial class UsersCommand
{
    /// <summary>The <c>--config-out FILE [--registrar-url URL] [--public-host NAME]</c> options.</summary>
    private sealed class ConfigFileOptions
    {
        private readonly bool _required;

        public ConfigFileOptions(bool required)
        {
            _required = required;
            ConfigOut = new Option<string?>("--config-out")
            {
                Description = (required ? "Write" : "Also write")
                    + " the hidden server's config file for 'rendezvous expose --config' (JSON with the registrar URL, UUID, secret and the registrar certificate's fingerprint; mode 0600).",
                HelpName = "FILE",
                Required = required,
            };
            RegistrarUrl = new Option<string?>("--registrar-url")
            {
                Description = $"With --config-out: the registrar URL the hidden server uses. Default: https://<public host or localhost>:{HiddenServerConfigFile.DefaultRegistrarPort}/.",
                HelpName = "URL",
            };
            PublicHost = new Option<string?>("--public-host")
            {
                Description = "With --config-out: the name the registrar is reached by; used in the default URL and in the certificate generated if the data directory has none yet.",
                HelpName = "NAME",
            };
        }

        public Option<string?> ConfigOut { get; }

        public Option<string?> RegistrarUrl { get; }

        public Option<string?> PublicHost { get; }

        public void AddTo(Command command)
        {
            command.Options.Add(ConfigOut);
            command.Options.Add(RegistrarUrl);
            command.Options.Add(PublicHost);
        }

        /// <summary>
        /// Checks the options and loads (or, the first time, creates) the registrar certificate of
        /// <paramref name="dataDirectory"/> whose fingerprint the file pins. Returns no target when no
        /// <c>--config-out</c> was given, or the exit code after reporting a problem on <paramref name="error"/>.
        /// </summary>
        public async Task<(ConfigFileTarget? Target, int Failure)> ResolveAsync(ParseResult parseResult, string dataDirectory, TextWriter error)
        {
            string? configOut = parseResult.GetValue(ConfigOut);
            string? registrarUrlText = parseResult.GetValue(RegistrarUrl);
            string? publicHost = parseResult.GetValue(PublicHost);
            if (configOut is null)
            {
                if (!_required && (registrarUrlText is not null || publicHost is not null))
                {
                    await error.WriteLineAsync("--registrar-url and --public-host go with --config-out FILE.").ConfigureAwait(false);
                    return (null, BadInput);
                }

                return (null, 0);
            }

            Uri? registrarUrl;
            string? warning = null;
            if (registrarUrlText is null)
            {
                registrarUrl = HiddenServerConfigFile.DefaultRegistrarUrl(publicHost);
                if (registrarUrl.IsLoopback)
                {
                    warning = $"Warning: the config file names the registrar as {registrarUrl.Host} ({registrarUrl}) because {(publicHost is null ? "--public-host is not given" : $"--public-host is '{publicHost}'")}: "
                        + "a hidden server on another machine cannot reach it there. Give --public-host NAME (the server's public name) or --registrar-url URL, or edit registrarUrl in the file.";
                }
            }
            else if (!RegistrarUrlText.TryParse(registrarUrlText, out registrarUrl, out var problem))
            {
                await error.WriteLineAsync($"--registrar-url '{registrarUrlText}' is {problem}.").ConfigureAwait(false);
                return (null, BadInput);
            }

            // The certificate serve will use (made now if it does not exist yet), so the file can pin it.
            try
            {
                RegistrarCertificateResult certificate = RegistrarCertificates.LoadOrCreate(
                    dataDirectory, publicHost is { Length: > 0 } ? [publicHost] : []);
                string fingerprint = certificate.Sha256Fingerprint;
                certificate.Certificate.Dispose();
                return (new ConfigFileTarget(configOut, registrarUrl, fingerprint, warning), 0);
            }
            catch (ArgumentException e)
            {
                await error.WriteLineAsync($"--public-host '{publicHost}' is not a host name or IP address: {e.Message}").ConfigureAwait(false);
                return (null, BadInput);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or CryptographicException)
            {
                await error.WriteLineAsync($"Cannot use the registrar certificate in {Path.GetFullPath(dataDirectory)}: {e.Message}").ConfigureAwait(false);
                return (null, Failed);
            }
        }
    }

    /// <summary>
    /// Where a config file goes, for which registrar, pinning which certificate; <paramref name="Warning"/> is printed
    /// once it is written (a registrar URL that a hidden server elsewhere cannot reach).
    /// </summary>
    private sealed record ConfigFileTarget(string Path, Uri RegistrarUrl, string Fingerprint, string? Warning)
    {
        /// <summary>Writes the file for <paramref name="entry"/> (mode 0600, an existing file replaced), then the warning, if any, on <paramref name="error"/>.</summary>
        /// <returns>Whether it was written; when not, <paramref name="problem"/> names the file and the reason.</returns>
        public bool TryWrite(SecretEntry entry, TextWriter error, [NotNullWhen(false)] out string? problem)
        {
            var config = new HiddenServerConfigFile(RegistrarUrl, entry.Uuid, SecretFormat.ToBase32(entry.Secret), entry.Step, entry.Digits, Fingerprint);
            try
            {
                config.Write(Path);
                if (Warning is not null)
                {
                    error.WriteLine(Warning);
                }

                problem = null;
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
            {
                // The callers end the sentence (export with '.', add and rotate with what was undone), so the system's own full stop goes.
                problem = $"Cannot write the config file '{Path}': {e.Message.TrimEnd('.')}";
                return false;
            }
        }

        /// <summary>The file's full path, registrar and pinned fingerprint, for the <c>Config:</c> line.</summary>
        public string Describe() => $"{System.IO.Path.GetFullPath(Path)} (registrar {RegistrarUrl}, fingerprint {Fingerprint})";
    }
}
