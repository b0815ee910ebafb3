using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rendezvous.Host.Commands;

/// <summary>What <c>expose</c> and <c>connect</c> share: stopping on Ctrl-C or SIGTERM, and HOST:PORT values.</summary>
internal static class CommandSupport
{
    /// <summary>
    /// A token cancelled on Ctrl-C (SIGINT), SIGTERM or SIGQUIT, or when <paramref name="cancellationToken"/> is.
    /// The signals are handled (the process does not die at once) so the command can stop cleanly.
    /// </summary>
    public static Termination OnTermination(CancellationToken cancellationToken) => new(cancellationToken);

    /// <summary>
    /// A parser for a whole-number option whose error names the option, the value and <paramref name="accepted"/>
    /// (instead of "Cannot parse argument ... as expected type 'System.Int32'"). Range checks stay with the command.
    /// </summary>
    public static Func<System.CommandLine.Parsing.ArgumentResult, int> WholeNumber(int defaultValue, string accepted) => result =>
    {
        if (result.Tokens.Count == 0)
        {
            return defaultValue;
        }

        var text = result.Tokens[^1].Value;
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        var name = result.Parent is System.CommandLine.Parsing.OptionResult option ? option.Option.Name : "the value";
        result.AddError($"{name} '{text}' is not a whole number; expected {accepted}.");
        return defaultValue;
    };

    /// <summary>Parses <c>HOST:PORT</c>: HOST a name, an IPv4 address or <c>[IPv6]</c>, PORT 0 to 65535 (1 to 65535 unless <paramref name="allowPortZero"/>).</summary>
    public static bool TryParseHostPort(string? text, bool allowPortZero, [NotNullWhen(true)] out string? host, out int port)
    {
        host = null;
        port = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        text = text.Trim();
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        var hostPart = text[..colon];
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535 || (port == 0 && !allowPortZero))
        {
            return false;
        }

        if (hostPart.StartsWith('[') && hostPart.EndsWith(']'))
        {
            hostPart = hostPart[1..^1];
            if (!IPAddress.TryParse(hostPart, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return false;
            }
        }
        else if (hostPart.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }
        else if (!IPAddress.TryParse(hostPart, out _) && Uri.CheckHostName(hostPart) != UriHostNameType.Dns)
        {
            return false;
        }

        host = hostPart;
        return true;
    }

    /// <summary>
    /// Text from a file or a database made safe to print on one line: every control character (a line end, a NUL,
    /// an escape sequence's ESC) becomes <c>\xNN</c>, so what is shown cannot break the line or drive the terminal.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <returns>The text with its control characters escaped.</returns>
    public static string EscapeControlCharacters(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var shown = new System.Text.StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            if (char.IsControl(c))
            {
                shown.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else
            {
                shown.Append(c);
            }
        }

        return shown.ToString();
    }

    /// <summary>
    /// Parses a registrar URL (<c>connect --registrar</c>, <c>users --registrar-url</c>, a config file's <c>registrarUrl</c>):
    /// only an absolute https:// URL with a host is accepted, as the client library requires (codes and cookies go there).
    /// </summary>
    /// <param name="text">The URL as given.</param>
    /// <param name="url">The URL, when accepted.</param>
    /// <param name="problem">When not: what the value is and what is accepted, to follow "--flag 'VALUE' is ".</param>
    public static bool TryParseRegistrarUrl(string? text, [NotNullWhen(true)] out Uri? url, [NotNullWhen(false)] out string? problem)
    {
        if (!Uri.TryCreate(text?.Trim(), UriKind.Absolute, out url) || string.IsNullOrEmpty(url.Host)
            || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
        {
            url = null;
            problem = "not an https:// URL; expected e.g. https://rendezvous.example.com:8898/";
            return false;
        }

        if (url.Scheme != Uri.UriSchemeHttps)
        {
            url = null;
            problem = "http://, but https:// is required: the registrar's certificate must be checked before TOTP codes and cookies are sent to it; "
                + "give https://HOST:PORT/ (the registrar's port is 8898 by default)";
            return false;
        }

        problem = null;
        return true;
    }

    /// <summary>Connects a TCP socket to <paramref name="host"/>:<paramref name="port"/> within <paramref name="timeout"/>.</summary>
    public static async Task<Socket> ConnectTcpAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = IPAddress.TryParse(host, out var address)
            ? new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            if (address is not null)
            {
                await socket.ConnectAsync(address, port, deadline.Token).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(host, port, deadline.Token).ConfigureAwait(false);
            }

            socket.NoDelay = true;
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException($"connecting to {host}:{port} took longer than {timeout.TotalSeconds:0.#} s");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Stops a command on Ctrl-C, SIGTERM or SIGQUIT.</summary>
    internal sealed class Termination : IDisposable
    {
        private readonly CancellationTokenSource _cancel;
        private readonly List<PosixSignalRegistration> _signals = [];

        public Termination(CancellationToken cancellationToken)
        {
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT })
            {
                _signals.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    Stop();
                }));
            }
        }

        /// <summary>Cancelled when the command should stop.</summary>
        public CancellationToken Token => _cancel.Token;

        public void Dispose()
        {
            foreach (var signal in _signals)
            {
                signal.Dispose();
            }

            _cancel.Dispose();
        }

        private void Stop()
        {
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
