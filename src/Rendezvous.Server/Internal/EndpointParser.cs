using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace Rendezvous.Server.Internal;

/// <summary>Parses the <c>HOST:PORT</c> and URL forms the options accept.</summary>
internal static class EndpointParser
{
    /// <summary>Parses <c>HOST:PORT</c> where HOST is an IP address (IPv6 in brackets), <c>localhost</c> or <c>*</c>.</summary>
    public static bool TryParseHostPort(string? text, [NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        endPoint = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        var host = text[..colon];
        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > IPEndPoint.MaxPort)
        {
            return false;
        }

        if (!TryParseHost(host, out var address))
        {
            return false;
        }

        endPoint = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>Parses a listen host: an address (IPv6 with or without brackets), <c>localhost</c>, or <c>*</c>/<c>+</c> for any.</summary>
    public static bool TryParseHost(string host, [NotNullWhen(true)] out IPAddress? address)
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

    /// <summary>Parses the registrar URL: http or https, a listen host and an explicit or default port.</summary>
    public static bool TryParseUrl(string? text, out bool https, [NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        https = false;
        endPoint = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        // Uri does not accept '*' or '+' as a host; stand in a parseable one and remember it.
        var anyHost = text.Contains("://*", StringComparison.Ordinal) || text.Contains("://+", StringComparison.Ordinal);
        var parseable = anyHost ? text.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal) : text;
        if (!Uri.TryCreate(parseable, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return false;
        }

        if (uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query))
        {
            return false;
        }

        https = uri.Scheme == Uri.UriSchemeHttps;
        IPAddress? address;
        if (anyHost)
        {
            address = IPAddress.IPv6Any;
        }
        else if (!TryParseHost(uri.Host, out address))
        {
            return false;
        }

        endPoint = new IPEndPoint(address, uri.Port);
        return true;
    }
}
