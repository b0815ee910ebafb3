using System.Net;
using System.Net.Security;
using System.Text;
using System.Text.Json;
using NUnit.Framework;

namespace Rendezvous.Tests.Common;

/// <summary>
/// Talks to a registrar over real HTTPS the way a hidden server or mobile client does: the certificate
/// is pinned by its SHA-256 fingerprint, and every call has a timeout.
/// </summary>
public static class RegistrarClient
{
    /// <summary>An HTTP client for <paramref name="baseAddress"/> that trusts exactly the certificate with <paramref name="fingerprint"/>.</summary>
    /// <param name="baseAddress">The registrar's base URL.</param>
    /// <param name="fingerprint">The SHA-256 fingerprint, hex with or without colons.</param>
    public static HttpClient CreatePinned(Uri baseAddress, string fingerprint)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        ArgumentNullException.ThrowIfNull(fingerprint);
        var expected = fingerprint.Replace(":", string.Empty, StringComparison.Ordinal);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is not null && string.Equals(
                        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())),
                        expected,
                        StringComparison.OrdinalIgnoreCase),
            },
        };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TestTimeouts.Short };
    }

    /// <summary>Sends <paramref name="method"/> to <paramref name="pathAndQuery"/> and reads the whole answer.</summary>
    public static async Task<RegistrarReply> SendAsync(this HttpClient client, HttpMethod method, string pathAndQuery)
    {
        ArgumentNullException.ThrowIfNull(client);
        using var request = new HttpRequestMessage(method, pathAndQuery);
        using var response = await client.SendAsync(request).WaitAsync(TestTimeouts.Short);
        var body = await response.Content.ReadAsByteArrayAsync().WaitAsync(TestTimeouts.Short);
        response.Headers.TryGetValues("Retry-After", out var retryAfter);
        return new RegistrarReply(
            response.StatusCode,
            response.Content.Headers.ContentType?.ToString(),
            response.Content.Headers.Allow.ToArray(),
            retryAfter?.SingleOrDefault(),
            body);
    }

    /// <summary>Registers with <c>PUT /?uuid=..&amp;response=..</c>.</summary>
    public static Task<RegistrarReply> RegisterAsync(this HttpClient client, string uuid, string response) =>
        client.SendAsync(HttpMethod.Put, $"/?uuid={Uri.EscapeDataString(uuid)}&response={Uri.EscapeDataString(response)}");

    /// <summary>Looks up with <c>GET /?uuid=..</c>.</summary>
    public static Task<RegistrarReply> LookUpAsync(this HttpClient client, string uuid) =>
        client.SendAsync(HttpMethod.Get, $"/?uuid={Uri.EscapeDataString(uuid)}");
}

/// <summary>A registrar's answer, read in full.</summary>
/// <param name="Status">The status code.</param>
/// <param name="ContentType">The <c>Content-Type</c> header as sent.</param>
/// <param name="Allow">The methods of the <c>Allow</c> header.</param>
/// <param name="RetryAfter">The raw <c>Retry-After</c> header, when sent.</param>
/// <param name="BodyBytes">The body, byte for byte.</param>
public sealed record RegistrarReply(HttpStatusCode Status, string? ContentType, IReadOnlyList<string> Allow, string? RetryAfter, byte[] BodyBytes)
{
    /// <summary>The body as text.</summary>
    public string Body => Encoding.UTF8.GetString(BodyBytes);

    /// <summary>The body parsed as JSON.</summary>
    public JsonElement Json => JsonDocument.Parse(BodyBytes).RootElement.Clone();

    /// <summary>The <c>result</c> triple; fails the test when the body is not one.</summary>
    public RegistrarTriple Triple
    {
        get
        {
            Assert.That(Json.TryGetProperty("result", out var result), Is.True, $"expected a result triple, got {Status} {Body}");
            return new RegistrarTriple(
                result.GetProperty("host").GetString()!,
                result.GetProperty("port").GetInt32(),
                result.GetProperty("cookie").GetString()!);
        }
    }

    /// <summary>Whether the body is an error with this <c>permanent</c> flag.</summary>
    public bool IsError(bool permanent) =>
        Json.TryGetProperty("error", out var error)
        && error.GetProperty("permanent").GetBoolean() == permanent
        && error.GetProperty("diagnostic").ValueKind == JsonValueKind.String;
}

/// <summary>The <c>result</c> of a successful registration or lookup.</summary>
/// <param name="Host">Where the relay is.</param>
/// <param name="Port">The relay's port.</param>
/// <param name="Cookie">The cookie with its mode letter (<c>R</c> or <c>I</c>).</param>
public sealed record RegistrarTriple(string Host, int Port, string Cookie)
{
    /// <summary>The cookie without its mode letter.</summary>
    public string Bare => Cookie[1..];

    /// <summary>
    /// For an <c>R</c> triple from our registrar: the <c>I</c> cookie (with its letter) a lookup hands out, derived
    /// from the <c>R</c> value by <see cref="Rendezvous.Protocol.RendezvousCookies.InitiatorValueFor"/>.
    /// </summary>
    public string InitiatorCookie => "I" + Rendezvous.Protocol.RendezvousCookies.InitiatorValueFor(Bare);
}
