using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Rendezvous.Client;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Tls;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Host.Commands;

/// <summary>
/// <c>rendezvous expose</c>: the hidden server. Registers with the registrar named in its config file,
/// keeps connections parked at the relay, and relays each paired session to a new TCP connection to a
/// local service.
/// </summary>
internal static class ExposeCommand
{
    private const string Prefix = "rendezvous expose: ";

    private static readonly TimeSpan LocalConnectTimeout = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var configOption = new Option<string>("--config")
        {
            Description = "The hidden server's config file, as written by 'rendezvous users add --config-out'.",
            HelpName = "FILE",
            Required = true,
        };
        var toOption = new Option<string>("--to")
        {
            Description = "The local TCP service each session is relayed to, e.g. 127.0.0.1:22.",
            HelpName = "HOST:PORT",
            Required = true,
        };
        var poolOption = new Option<string?>("--pool")
        {
            Description = "Connections kept parked at the relay (1 to 64), so that that many clients can connect at once. Default: 2.",
            HelpName = "N",
        };
        var minPoolOption = new Option<string?>("--min-pool")
        {
            Description = "The fewest connections parked when following the registrar's pool advice (1 to 64). Default: the pool size, so advice never shrinks the pool.",
            HelpName = "N",
        };
        var maxPoolOption = new Option<string?>("--max-pool")
        {
            Description = "The most connections parked when following the registrar's pool advice or growing after bursts (1 to 64). Default: --pool.",
            HelpName = "N",
        };
        var registrarOption = CommandSupport.RegistrarOption(
            "The registrar's URL, instead of the config file's; give it several times for a cluster's nodes, tried in turn while one is down.",
            required: false);
        var tlsCertOption = new Option<string?>("--tls-cert")
        {
            Description = "PEM certificate for end-to-end TLS with clients (with --tls-key); clients pin its fingerprint with 'connect --tls-pin'.",
            HelpName = "FILE",
        };
        var tlsKeyOption = new Option<string?>("--tls-key")
        {
            Description = "PEM private key of --tls-cert.",
            HelpName = "FILE",
        };

        var expose = new Command("expose", "Make a local TCP service reachable by UUID: register as a hidden server and relay each session to HOST:PORT. Runs until Ctrl-C or SIGTERM.");
        expose.Options.Add(configOption);
        expose.Options.Add(toOption);
        expose.Options.Add(poolOption);
        expose.Options.Add(minPoolOption);
        expose.Options.Add(maxPoolOption);
        expose.Options.Add(registrarOption);
        expose.Options.Add(tlsCertOption);
        expose.Options.Add(tlsKeyOption);
        expose.SetAction(async (parseResult, cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;

            string configPath = parseResult.GetValue(configOption)!;
            if (!HiddenServerConfigFile.TryLoad(configPath, out var config, out var configError))
            {
                await error.WriteLineAsync(Prefix + configError).ConfigureAwait(false);
                return ClientExitCodes.BadInput;
            }

            if (SecretFileMode.Warning(configPath, "the TOTP secret in it") is { } modeWarning)
            {
                await error.WriteLineAsync(Prefix + modeWarning).ConfigureAwait(false);
            }

            string toText = parseResult.GetValue(toOption)!;
            if (!EndpointText.TryParse(toText, allowPortZero: false, out var to, out var toError))
            {
                await error.WriteLineAsync($"{Prefix}--to {toError}.").ConfigureAwait(false);
                return ClientExitCodes.BadInput;
            }

            var options = config.ToAgentOptions();

            if (parseResult.GetValue(poolOption) is { } poolText)
            {
                if (!int.TryParse(poolText, NumberStyles.None, CultureInfo.InvariantCulture, out var pool) || pool is < 1 or > 64)
                {
                    await error.WriteLineAsync($"{Prefix}--pool '{poolText}' must be a number from 1 to 64.").ConfigureAwait(false);
                    return ClientExitCodes.BadInput;
                }

                options.PoolSize = pool;
            }

            foreach (var (option, name) in new[] { (minPoolOption, "--min-pool"), (maxPoolOption, "--max-pool") })
            {
                if (parseResult.GetValue(option) is not { } boundText)
                {
                    continue;
                }

                if (!int.TryParse(boundText, NumberStyles.None, CultureInfo.InvariantCulture, out var bound) || bound is < 1 or > 64)
                {
                    await error.WriteLineAsync($"{Prefix}{name} '{boundText}' must be a number from 1 to 64.").ConfigureAwait(false);
                    return ClientExitCodes.BadInput;
                }

                if (option == minPoolOption)
                {
                    options.MinPoolSize = bound;
                }
                else
                {
                    options.MaxPoolSize = bound;
                }
            }

            if (!CommandSupport.TryParseRegistrars(parseResult.GetValue(registrarOption), out var registrars, out var registrarProblem))
            {
                await error.WriteLineAsync(Prefix + registrarProblem).ConfigureAwait(false);
                return ClientExitCodes.BadInput;
            }

            if (registrars.Count > 0)
            {
                options.RegistrarUrl = registrars[0];
                options.RegistrarUrls = registrars[1..];
            }

            string? tlsCert = parseResult.GetValue(tlsCertOption);
            string? tlsKey = parseResult.GetValue(tlsKeyOption);
            SslStreamCertificateContext? certificate = null;
            if (tlsCert is not null || tlsKey is not null)
            {
                if (tlsCert is null || tlsKey is null)
                {
                    await error.WriteLineAsync($"{Prefix}--tls-cert and --tls-key go together; give both PEM files.").ConfigureAwait(false);
                    return ClientExitCodes.BadInput;
                }

                try
                {
                    certificate = RegistrarCertificates.LoadPemWithChain(tlsCert, tlsKey);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or CryptographicException or ArgumentException)
                {
                    await error.WriteLineAsync($"{Prefix}cannot load --tls-cert '{tlsCert}' with --tls-key '{tlsKey}': {ex.Message}").ConfigureAwait(false);
                    return ClientExitCodes.BadInput;
                }

                options.Authenticator = new TlsHiddenServerAuthenticator(certificate);
            }

            using (certificate?.TargetCertificate)
            {
                return await RunAsync(options, configPath, to, certificate, output, error, cancellationToken).ConfigureAwait(false);
            }
        });
        return expose;
    }

    private static async Task<int> RunAsync(
        HiddenServerAgentOptions options,
        string configPath,
        DnsEndPoint to,
        SslStreamCertificateContext? certificate,
        TextWriter output,
        TextWriter error,
        CancellationToken cancellationToken)
    {
        var target = EndpointText.Format(to);
        var log = new StatusLog(error);

        async Task Relay(RendezvousSession session, CancellationToken stopping)
        {
            Socket local;
            try
            {
                local = await TcpConnector.ConnectAsync(to, LocalConnectTimeout, stopping).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException)
            {
                log.Write($"cannot connect to {target} for a session: {ex.Message}; session closed.");
                session.Abort();
                return;
            }

            using (local)
            {
                var result = await SessionRelay.RelayToSocketAsync(session, local, stopping).ConfigureAwait(false);
                if (result.End == SessionRelayEnd.Aborted)
                {
                    log.Write($"a session to {target} broke off after {result.BytesReceived} bytes in, {result.BytesSent} bytes out.");
                }
            }
        }

        HiddenServerAgent agent;
        try
        {
            agent = new HiddenServerAgent(options, Relay);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync(Prefix + ex.Message).ConfigureAwait(false);
            return ClientExitCodes.BadInput;
        }

        using (agent)
        using (var termination = CommandSupport.OnTermination(cancellationToken))
        {
            if (certificate is not null)
            {
                var fingerprint = CertificateFingerprint.Compute(certificate.TargetCertificate);
                await output.WriteLineAsync($"End-to-end TLS certificate SHA-256 fingerprint {fingerprint}; clients connect with --tls-pin {fingerprint}").ConfigureAwait(false);
            }

            log.Write($"exposing {target} as {options.Uuid} through {string.Join(", ", new[] { options.RegistrarUrl! }.Concat(options.RegistrarUrls))} (pool {options.PoolSize}).");
            agent.StatusChanged += (_, status) => log.Status(status, options.Uuid!);
            try
            {
                var reason = await agent.RunAsync(termination.Token).ConfigureAwait(false);
                if (reason == HiddenServerStopReason.Superseded)
                {
                    log.Write($"{options.Uuid} was registered by another hidden server; this one stepped back and stops.");
                    return ClientExitCodes.Superseded;
                }

                log.Write("stopped.");
                return ClientExitCodes.Success;
            }
            catch (CertificateNotTrustedException ex)
            {
                log.Write($"{ex.Message} If that is the registrar's certificate, pin it in {Path.GetFullPath(configPath)}: \"registrarFingerprint\": \"{ex.Presented}\", or \"registrarCaFile\" with a PEM file of it or its CA.");
                return ClientExitCodes.For(ex);
            }
            catch (RendezvousException ex)
            {
                log.Write(ex.Message);
                return ClientExitCodes.For(ex);
            }
        }
    }

    /// <summary>One stderr line per change of state or new problem, never one per parked connection.</summary>
    private sealed class StatusLog(TextWriter error)
    {
        private readonly Lock _lock = new();
        private HiddenServerState _state = HiddenServerState.Starting;
        private string? _lastError;

        public void Write(string line)
        {
            lock (_lock)
            {
                error.WriteLine(Prefix + line);
                error.Flush();
            }
        }

        public void Status(HiddenServerStatus status, string uuid)
        {
            string? line = null;
            lock (_lock)
            {
                if (status.State != _state)
                {
                    _state = status.State;
                    line = status.State switch
                    {
                        HiddenServerState.Registered => $"registered {uuid}; parking connections at the relay.",
                        HiddenServerState.Registering when status.LastError is null => $"registering {uuid}.",
                        _ => null,
                    };
                }

                if (status.LastError is { } problem && !string.Equals(problem, _lastError, StringComparison.Ordinal)
                    && status.State is HiddenServerState.Registering or HiddenServerState.Registered)
                {
                    var retrying = $"{Sentence(problem)} {Retrying(status.NextAttempt)}";
                    line = line is null ? retrying : $"{line} {retrying}";
                }

                _lastError = status.LastError;
            }

            if (line is not null)
            {
                Write(line);
            }
        }

        /// <summary>Ends a message with a full stop unless it ends a sentence already, so that the next sentence is set apart.</summary>
        private static string Sentence(string message)
        {
            var trimmed = message.TrimEnd();
            return trimmed.Length == 0 || trimmed[^1] is '.' or '!' or '?' ? trimmed : trimmed + ".";
        }

        /// <summary>"Retrying.", with how long until then when that is long enough to matter.</summary>
        private static string Retrying(DateTimeOffset? nextAttempt)
        {
            var wait = nextAttempt is { } at ? at - DateTimeOffset.UtcNow : TimeSpan.Zero;
            return wait.TotalSeconds switch
            {
                < 10 => "Retrying.",
                < 120 => $"Retrying in {wait.TotalSeconds:0} s.",
                _ => $"Retrying in {wait.TotalMinutes:0} min.",
            };
        }
    }
}
