using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Rendezvous.Protocol;

/// <summary>
/// The one parser of <c>HOST:PORT</c> text, for every endpoint the libraries and the <c>rendezvous</c> tool take:
/// where to connect (<see cref="TryParse"/>: a name or an address), where to listen (<see cref="TryParseListen"/>:
/// an address, <c>localhost</c> or <c>*</c>) and a listening URL (<see cref="TryParseListenUrl"/>). Each names
/// the bad value and what is accepted when it refuses one.
/// </summary>
public static class EndpointText
{
    /// <summary>
    /// Parses where to connect: <c>HOST:PORT</c> with HOST a DNS name, an IPv4 address or an IPv6 address in
    /// brackets (<c>[::1]:22</c>), and PORT 1 to 65535 (0 to 65535 when <paramref name="allowPortZero"/>).
    /// Surrounding white space is ignored.
    /// </summary>
    /// <param name="text">The text, e.g. <c>127.0.0.1:22</c>, <c>redis.example.com:6379</c> or <c>[::1]:22</c>.</param>
    /// <param name="allowPortZero">Whether port 0 is accepted.</param>
    /// <param name="endPoint">The host (brackets removed) and port, when accepted.</param>
    /// <param name="error">
    /// When refused: the value and what is accepted, without a final full stop, to follow the setting's name
    /// (<c>"--to " + error</c>).
    /// </param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is accepted.</returns>
    public static bool TryParse(string? text, bool allowPortZero, [NotNullWhen(true)] out DnsEndPoint? endPoint, [NotNullWhen(false)] out string? error)
    {
        endPoint = null;
        if (TrySplit(text?.Trim(), allowPortZero, out var host, out var port))
        {
            if (host.StartsWith('[') && host.EndsWith(']'))
            {
                host = host[1..^1];
                if (IPAddress.TryParse(host, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    endPoint = new DnsEndPoint(host, port);
                }
            }
            else if (!host.Contains(':', StringComparison.Ordinal)
                && (IPAddress.TryParse(host, out _) || Uri.CheckHostName(host) == UriHostNameType.Dns))
            {
                endPoint = new DnsEndPoint(host, port);
            }
        }

        error = endPoint is null
            ? $"'{text}' is not HOST:PORT with HOST a name, an IPv4 address or [IPv6 address] and PORT {(allowPortZero ? 0 : 1)}-65535; e.g. 127.0.0.1:22, host.example.com:22 or [::1]:22"
            : null;
        return endPoint is not null;
    }

    /// <summary>
    /// Parses where to listen: <c>HOST:PORT</c> with HOST an IP address (IPv6 in brackets, <c>[::1]:0</c>),
    /// <c>localhost</c> (127.0.0.1) or <c>*</c> / <c>+</c> (every interface, IPv4 and IPv6: <see cref="IPAddress.IPv6Any"/>),
    /// and PORT 0 to 65535 (0: any free port).
    /// </summary>
    /// <param name="text">The text, e.g. <c>0.0.0.0:8899</c>, <c>localhost:2222</c> or <c>*:0</c>.</param>
    /// <param name="endPoint">The address and port, when accepted.</param>
    /// <param name="error">When refused: the value and what is accepted, without a final full stop, to follow the setting's name.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is accepted.</returns>
    public static bool TryParseListen(string? text, [NotNullWhen(true)] out IPEndPoint? endPoint, [NotNullWhen(false)] out string? error)
    {
        endPoint = TrySplit(text, allowPortZero: true, out var host, out var port) && TryParseListenHost(host, out var address)
            ? new IPEndPoint(address, port)
            : null;
        error = endPoint is null
            ? $"'{text}' is not HOST:PORT with HOST an IP address ([::1] for IPv6), localhost or *, and PORT 0-65535; e.g. 0.0.0.0:8899 or 127.0.0.1:0"
            : null;
        return endPoint is not null;
    }

    /// <summary>
    /// Parses a listening URL: <c>https://HOST:PORT</c> or <c>http://HOST:PORT</c> (the scheme's port when none is given)
    /// with HOST as <see cref="TryParseListen"/> takes it, and no path or query.
    /// </summary>
    /// <param name="text">The URL, e.g. <c>https://0.0.0.0:8898</c> or <c>http://127.0.0.1:8893/</c>.</param>
    /// <param name="https">Whether the scheme is https.</param>
    /// <param name="endPoint">The address and port, when accepted.</param>
    /// <param name="error">When refused: the value and what is accepted, without a final full stop, to follow the setting's name.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is accepted.</returns>
    public static bool TryParseListenUrl(string? text, out bool https, [NotNullWhen(true)] out IPEndPoint? endPoint, [NotNullWhen(false)] out string? error)
    {
        https = false;
        endPoint = null;
        error = $"'{text}' is not https://HOST:PORT or http://HOST:PORT with HOST an IP address, localhost or *, and no path; e.g. https://0.0.0.0:8898";
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        // Uri does not accept '*' or '+' as a host; stand in a parseable one and remember it.
        var anyHost = text.Contains("://*", StringComparison.Ordinal) || text.Contains("://+", StringComparison.Ordinal);
        var parseable = anyHost ? text.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal) : text;
        if (!Uri.TryCreate(parseable, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
            || uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query))
        {
            return false;
        }

        IPAddress? address = IPAddress.IPv6Any;
        if (!anyHost && !TryParseListenHost(uri.Host, out address))
        {
            return false;
        }

        https = uri.Scheme == Uri.UriSchemeHttps;
        endPoint = new IPEndPoint(address, uri.Port);
        error = null;
        return true;
    }

    /// <summary>Writes an endpoint as <see cref="TryParse"/> reads it: <c>HOST:PORT</c>, an IPv6 address in brackets.</summary>
    /// <param name="endPoint">The endpoint.</param>
    /// <returns>The text, e.g. <c>127.0.0.1:22</c> or <c>[::1]:22</c>.</returns>
    public static string Format(DnsEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return endPoint.Host.Contains(':', StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"[{endPoint.Host}]:{endPoint.Port}")
            : string.Create(CultureInfo.InvariantCulture, $"{endPoint.Host}:{endPoint.Port}");
    }

    /// <summary>Splits at the last colon: a non-empty HOST, and a PORT of digits only within range.</summary>
    private static bool TrySplit(string? text, bool allowPortZero, [NotNullWhen(true)] out string? host, out int port)
    {
        host = null;
        port = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1
            || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port)
            || port > IPEndPoint.MaxPort || (port == 0 && !allowPortZero))
        {
            return false;
        }

        host = text[..colon];
        return true;
    }

    /// <summary>A listening host: an address (IPv6 with or without brackets), <c>localhost</c>, or <c>*</c>/<c>+</c> for any.</summary>
    private static bool TryParseListenHost(string host, [NotNullWhen(true)] out IPAddress? address)
    {
        if (host is "*" or "+")
        {
            address = IPAddress.IPv6Any;
            return true;
        }

        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            address = IPAddress.Loopback;
            return true;
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        return IPAddress.TryParse(host, out address);
    }
}
