using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Rendezvous.Client;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Tls;

namespace Rendezvous.Host.Commands;

/// <summary>
/// <c>rendezvous connect</c>: the mobile client. Reaches a hidden server by UUID and relays either
/// standard input and output (<c>--stdio</c>, one session, e.g. as an ssh <c>ProxyCommand</c>) or each
/// connection accepted on a local port (<c>--listen</c>, a session per connection).
/// </summary>
internal static class ConnectCommand
{
    private const string Prefix = "rendezvous connect: ";

    public static Command Create()
    {
        var registrarOption = CommandSupport.RegistrarOption(
            "The registrar's URL, e.g. https://rendezvous.example.com:8898. Give it several times for a cluster's nodes: each is tried in turn while one is down.",
            required: true);
        var uuidOption = new Option<string>("--uuid")
        {
            Description = "The hidden server's UUID.",
            HelpName = "UUID",
            Required = true,
        };
        var pinOption = new Option<string?>("--pin")
        {
            Description = "Trust the registrar's certificate by its SHA-256 fingerprint (as 'rendezvous serve' logs it). Default: the system trust store.",
            HelpName = "SHA256",
        };
        var caOption = new Option<string?>("--ca")
        {
            Description = "Trust the registrar's certificate by a PEM file with that certificate or its CA.",
            HelpName = "FILE",
        };
        var tlsPinOption = new Option<string?>("--tls-pin")
        {
            Description = "End-to-end TLS with the hidden server ('expose --tls-cert'), pinning its certificate's SHA-256 fingerprint.",
            HelpName = "SHA256",
        };
        var listenOption = new Option<string?>("--listen")
        {
            Description = "Accept local TCP connections on HOST:PORT (port 0: any free one; the bound address is printed) and relay each through its own rendezvous.",
            HelpName = "HOST:PORT",
        };
        var stdioOption = new Option<bool>("--stdio")
        {
            Description = "Relay standard input and output through one rendezvous, e.g. as ssh -o ProxyCommand='rendezvous connect ... --stdio'.",
        };

        var connect = new Command("connect", "Reach a hidden server by UUID: relay stdin/stdout (--stdio) or local TCP connections (--listen) to it.");
        connect.Options.Add(registrarOption);
        connect.Options.Add(uuidOption);
        connect.Options.Add(pinOption);
        connect.Options.Add(caOption);
        connect.Options.Add(tlsPinOption);
        connect.Options.Add(listenOption);
        connect.Options.Add(stdioOption);
        connect.SetAction(async (parseResult, cancellationToken) =>
        {
            // Standard output is not looked at before it is needed: the console's writer holds a duplicate
            // of descriptor 1, which would keep --stdio's reader from seeing the end of the session.
            TextWriter error = parseResult.InvocationConfiguration.Error;

            async Task<int> Refuse(string message)
            {
                await error.WriteLineAsync(Prefix + message).ConfigureAwait(false);
                return ClientExitCodes.BadInput;
            }

            if (!CommandSupport.TryParseRegistrars(parseResult.GetValue(registrarOption), out var registrars, out var registrarProblem))
            {
                return await Refuse(registrarProblem).ConfigureAwait(false);
            }

            string uuidText = parseResult.GetValue(uuidOption)!;
            if (!Guid.TryParse(uuidText, out var uuid))
            {
                return await Refuse($"--uuid '{uuidText}' is not a UUID; expected the form 123e4567-e89b-12d3-a456-426614174000.").ConfigureAwait(false);
            }

            var trust = new RegistrarTrust();
            if (parseResult.GetValue(pinOption) is { } pinText)
            {
                if (!CertificateFingerprint.TryNormalize(pinText, out var pin))
                {
                    return await Refuse($"--pin '{pinText}' is not a SHA-256 fingerprint; expected 32 hex bytes such as AB:CD:... as 'rendezvous serve' logs it.").ConfigureAwait(false);
                }

                trust.PinnedFingerprint = pin;
            }

            if (parseResult.GetValue(caOption) is { } caText)
            {
                if (!File.Exists(caText))
                {
                    return await Refuse($"--ca '{caText}' does not exist; give a PEM file with the registrar's certificate or its CA.").ConfigureAwait(false);
                }

                trust.CertificateAuthorityPath = caText;
            }

            var options = new RendezvousConnectorOptions { RegistrarUrl = registrars[0], RegistrarUrls = registrars[1..], Trust = trust };
            if (parseResult.GetValue(tlsPinOption) is { } tlsPinText)
            {
                if (!CertificateFingerprint.TryNormalize(tlsPinText, out var tlsPin))
                {
                    return await Refuse($"--tls-pin '{tlsPinText}' is not a SHA-256 fingerprint; expected 32 hex bytes as 'rendezvous expose' prints it.").ConfigureAwait(false);
                }

                options.Authenticator = new TlsMobileClientAuthenticator(tlsPin);
            }

            string? listenText = parseResult.GetValue(listenOption);
            bool stdio = parseResult.GetValue(stdioOption);
            if (stdio == (listenText is not null))
            {
                return await Refuse("give exactly one of --listen HOST:PORT and --stdio.").ConfigureAwait(false);
            }

            IPEndPoint? listen = null;
            if (listenText is not null && !EndpointText.TryParseListen(listenText, out listen, out var listenError))
            {
                return await Refuse($"--listen {listenError}.").ConfigureAwait(false);
            }

            RendezvousConnector connector;
            try
            {
                connector = new RendezvousConnector(options);
            }
            catch (ArgumentException ex)
            {
                return await Refuse(ex.Message).ConfigureAwait(false);
            }

            using (connector)
            using (var termination = CommandSupport.OnTermination(cancellationToken))
            {
                var id = uuid.ToString("D");
                return listen is null
                    ? await RunStdioAsync(connector, id, error, termination.Token).ConfigureAwait(false)
                    : await RunListenerAsync(connector, id, listen, parseResult.InvocationConfiguration.Output, error, termination.Token).ConfigureAwait(false);
            }
        });
        return connect;
    }

    private static async Task<int> RunStdioAsync(RendezvousConnector connector, string uuid, TextWriter error, CancellationToken cancellationToken)
    {
        RendezvousSession session;
        try
        {
            session = await connector.ConnectAsync(uuid, cancellationToken).ConfigureAwait(false);
        }
        catch (RendezvousException ex)
        {
            await error.WriteLineAsync(Prefix + Explain(ex)).ConfigureAwait(false);
            return ClientExitCodes.For(ex);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ClientExitCodes.Success;
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            await error.WriteLineAsync($"{Prefix}the connection to the relay failed: {ex.Message}").ConfigureAwait(false);
            return ClientExitCodes.Unreachable;
        }

        await using (session)
        {
            var (input, output) = OpenStandardStreams();
            await using (input)
            await using (output)
            {
                var result = await SessionRelay.RelayToStreamsAsync(session, input, output, cancellationToken).ConfigureAwait(false);
                switch (result.End)
                {
                    case SessionRelayEnd.Completed:
                        return ClientExitCodes.Success;
                    case SessionRelayEnd.Cancelled:
                        return ClientExitCodes.Success;
                    default:
                        await error.WriteLineAsync($"{Prefix}the session broke off after {result.BytesSent} bytes sent and {result.BytesReceived} received.").ConfigureAwait(false);
                        return ClientExitCodes.Failed;
                }
            }
        }
    }

    /// <summary>
    /// Unbuffered binary streams over standard input and output that read and write at the descriptors'
    /// shared file offset (the console streams call read(2) and write(2) on duplicates of descriptors 0 and
    /// 1), so a regular file as standard input or output is left where the next command of a shell expects
    /// it: <c>{ connect --stdio; echo x; } &gt; out</c> appends after what connect wrote, and
    /// <c>{ connect --stdio; cat; } &lt; in</c> does not read the same bytes again. A <see cref="FileStream"/>
    /// over a seekable descriptor would keep a position of its own (pread/pwrite) and never move the shared
    /// one. When standard output is a socket, disposing the output shuts its sending direction down, so the
    /// peer sees the end of the session at once (a half-close); a pipe ends when the process exits, since
    /// the runtime keeps a duplicate of descriptor 1 from its start that no stream can close.
    /// </summary>
    private static (Stream Input, Stream Output) OpenStandardStreams() =>
        (Console.OpenStandardInput(), new StandardOutputStream(Console.OpenStandardOutput()));

    /// <summary>Standard output whose disposal closes the console stream and, when descriptor 1 is a socket, shuts its sending direction down.</summary>
    private sealed class StandardOutputStream(Stream console) : Stream
    {
        private int _disposed;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Flush() => console.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => console.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => console.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => console.Write(buffer);

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            console.WriteAsync(buffer, offset, count, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            console.WriteAsync(buffer, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                console.Dispose();
                ShutDownIfSocket();
            }

            base.Dispose(disposing);
        }

        private static void ShutDownIfSocket()
        {
            if (OperatingSystem.IsWindows())
            {
                return;
            }

            try
            {
                // Not owned: disposing this Socket leaves descriptor 1 open.
                using var socket = new Socket(new SafeSocketHandle(1, ownsHandle: false));
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
                // Not a socket (a pipe, a file, a terminal), or no longer connected.
            }
        }
    }

    private static async Task<int> RunListenerAsync(
        RendezvousConnector connector,
        string uuid,
        IPEndPoint endPoint,
        TextWriter output,
        TextWriter error,
        CancellationToken cancellationToken)
    {
        await using var forwarder = new RendezvousForwarder(connector, new RendezvousForwarderOptions { ListenEndPoint = endPoint, Uuid = uuid });
        IPEndPoint listening;
        try
        {
            listening = forwarder.Start();
        }
        catch (SocketException ex)
        {
            await error.WriteLineAsync($"{Prefix}cannot listen on {endPoint}: {ex.Message}").ConfigureAwait(false);
            return ClientExitCodes.Failed;
        }

        await output.WriteLineAsync($"Listening on {listening}; each connection reaches {uuid}").ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);

        var errorLock = new Lock();
        forwarder.ConnectionFailed += (_, failure) =>
        {
            var line = failure switch
            {
                { Client: null } => $"accepting on {endPoint} failed: {failure.Exception.Message}",
                { Exception: RendezvousException rendezvous } => $"connection from {failure.Client}: {Explain(rendezvous)}",
                _ => $"connection from {failure.Client}: the connection to the relay failed: {failure.Exception.Message}",
            };
            lock (errorLock)
            {
                error.WriteLine(Prefix + line);
                error.Flush();
            }
        };

        return await forwarder.RunAsync(cancellationToken).ConfigureAwait(false) switch
        {
            RendezvousForwarderStopReason.CertificateMismatch => ClientExitCodes.PinMismatch,
            RendezvousForwarderStopReason.ListenerFailed => ClientExitCodes.Failed,
            _ => ClientExitCodes.Success,
        };
    }

    /// <summary>The library's message, with the flags that fix it when the registrar's certificate is not trusted.</summary>
    private static string Explain(RendezvousException exception) => exception is CertificateNotTrustedException notTrusted
        ? $"{notTrusted.Message} If that is the registrar's certificate ('rendezvous serve' logs its fingerprint when it starts), pass --pin {notTrusted.Presented}, or --ca FILE with a PEM file of it or its CA."
        : exception.Message;
}
