using System.Net;

namespace Rendezvous.Protocol.Tests;

/// <summary>The one HOST:PORT parser: where to connect, where to listen, and a listening URL.</summary>
public sealed class EndpointTextTests
{
    [TestCase("127.0.0.1:22", "127.0.0.1", 22)]
    [TestCase(" redis.example.com:6379 ", "redis.example.com", 6379)]
    [TestCase("localhost:1", "localhost", 1)]
    [TestCase("[::1]:22", "::1", 22)]
    [TestCase("[2001:db8::5]:65535", "2001:db8::5", 65535)]
    public void A_connect_target_is_a_name_or_an_address_and_a_port(string text, string host, int port)
    {
        Assert.That(EndpointText.TryParse(text, allowPortZero: false, out var endPoint, out var error), Is.True, error);
        Assert.Multiple(() =>
        {
            Assert.That((endPoint!.Host, endPoint.Port), Is.EqualTo((host, port)));
            Assert.That(EndpointText.Format(endPoint), Is.EqualTo(text.Trim()));
        });
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("127.0.0.1")]
    [TestCase("127.0.0.1:")]
    [TestCase(":22")]
    [TestCase("127.0.0.1:0")]
    [TestCase("127.0.0.1:65536")]
    [TestCase("127.0.0.1:+22")]
    [TestCase("::1:22")]
    [TestCase("[::1:22")]
    [TestCase("[127.0.0.1]:22")]
    [TestCase("bad host:22")]
    [TestCase("*:22")]
    public void A_bad_connect_target_is_refused_naming_it_and_what_is_accepted(string? text)
    {
        Assert.Multiple(() =>
        {
            Assert.That(EndpointText.TryParse(text, allowPortZero: false, out var endPoint, out var error), Is.False, $"accepted as {endPoint}");
            Assert.That(error, Is.EqualTo($"'{text}' is not HOST:PORT with HOST a name, an IPv4 address or [IPv6 address] and PORT 1-65535; e.g. 127.0.0.1:22, host.example.com:22 or [::1]:22"));
        });
    }

    [Test]
    public void Port_zero_is_a_connect_target_only_when_allowed()
    {
        Assert.Multiple(() =>
        {
            Assert.That(EndpointText.TryParse("127.0.0.1:0", allowPortZero: true, out var endPoint, out _), Is.True);
            Assert.That(endPoint!.Port, Is.Zero);
            Assert.That(EndpointText.TryParse("127.0.0.1:x", allowPortZero: true, out _, out var error), Is.False);
            Assert.That(error, Does.Contain("PORT 0-65535"));
        });
    }

    [TestCase("0.0.0.0:8899", "0.0.0.0", 8899)]
    [TestCase("127.0.0.1:0", "127.0.0.1", 0)]
    [TestCase("localhost:2222", "127.0.0.1", 2222)]
    [TestCase("LOCALHOST:2222", "127.0.0.1", 2222)]
    [TestCase("*:8899", "::", 8899)]
    [TestCase("+:8899", "::", 8899)]
    [TestCase("[::1]:0", "::1", 0)]
    [TestCase("::1:80", "::1", 80)]
    public void A_listen_endpoint_is_an_address_localhost_or_any(string text, string address, int port)
    {
        Assert.That(EndpointText.TryParseListen(text, out var endPoint, out var error), Is.True, error);
        Assert.That(endPoint, Is.EqualTo(new IPEndPoint(IPAddress.Parse(address), port)));
    }

    [TestCase("nope")]
    [TestCase("example.com:80")]
    [TestCase("127.0.0.1:65536")]
    [TestCase("127.0.0.1:-1")]
    [TestCase(null)]
    public void A_bad_listen_endpoint_is_refused_naming_it_and_what_is_accepted(string? text)
    {
        Assert.Multiple(() =>
        {
            Assert.That(EndpointText.TryParseListen(text, out _, out var error), Is.False);
            Assert.That(error, Is.EqualTo($"'{text}' is not HOST:PORT with HOST an IP address ([::1] for IPv6), localhost or *, and PORT 0-65535; e.g. 0.0.0.0:8899 or 127.0.0.1:0"));
        });
    }

    [TestCase("https://0.0.0.0:8898", true, "0.0.0.0", 8898)]
    [TestCase("http://127.0.0.1:8893/", false, "127.0.0.1", 8893)]
    [TestCase("https://*:8898", true, "::", 8898)]
    [TestCase("http://localhost", false, "127.0.0.1", 80)]
    [TestCase("https://[::1]:0", true, "::1", 0)]
    public void A_listening_url_is_a_scheme_and_a_listen_endpoint(string text, bool https, string address, int port)
    {
        Assert.That(EndpointText.TryParseListenUrl(text, out var isHttps, out var endPoint, out var error), Is.True, error);
        Assert.Multiple(() =>
        {
            Assert.That(isHttps, Is.EqualTo(https));
            Assert.That(endPoint, Is.EqualTo(new IPEndPoint(IPAddress.Parse(address), port)));
        });
    }

    [TestCase("ftp://127.0.0.1:21")]
    [TestCase("https://127.0.0.1:8898/path")]
    [TestCase("https://127.0.0.1:8898/?q=1")]
    [TestCase("https://example.com:8898")]
    [TestCase("127.0.0.1:8898")]
    [TestCase("")]
    public void A_bad_listening_url_is_refused_naming_it_and_what_is_accepted(string text)
    {
        Assert.Multiple(() =>
        {
            Assert.That(EndpointText.TryParseListenUrl(text, out _, out _, out var error), Is.False);
            Assert.That(error, Is.EqualTo($"'{text}' is not https://HOST:PORT or http://HOST:PORT with HOST an IP address, localhost or *, and no path; e.g. https://0.0.0.0:8898"));
        });
    }
}
