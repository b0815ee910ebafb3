using System.Net;
using System.Net.Security;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Rendezvous.Tests.Common;

/// <summary>A browser-like HTTP client for the admin page: keeps cookies, does not follow redirects, every call bounded.</summary>
public sealed partial class AdminClient : IDisposable
{
    /// <summary>The admin page's session cookie, as browsers see it.</summary>
    public const string SessionCookie = "rendezvous-admin";

    /// <summary>The form field that carries the anti-forgery token.</summary>
    public const string CsrfField = "csrf";

    /// <summary>The largest form the admin page reads, in bytes.</summary>
    public const int MaxFormBytes = 16 * 1024;

    /// <summary>The most fields a form of the admin page may have.</summary>
    public const int MaxFormFields = 16;

    private readonly HttpClient _client;

    public AdminClient(Uri baseAddress, string registrarFingerprint)
    {
        Cookies = new CookieContainer();
        var expected = registrarFingerprint.Replace(":", string.Empty, StringComparison.Ordinal);
        var handler = new SocketsHttpHandler
        {
            CookieContainer = Cookies,
            AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                // An https admin listener uses the registrar's certificate: pin it.
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is not null && string.Equals(
                        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())), expected, StringComparison.OrdinalIgnoreCase),
            },
        };
        _client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TestTimeouts.Short };
    }

    public CookieContainer Cookies { get; }

    [GeneratedRegex("name=\"csrf\" value=\"(?<token>[^\"]+)\"")]
    private static partial Regex CsrfInput();

    /// <summary>GETs <paramref name="path"/>.</summary>
    public Task<AdminReply> GetAsync(string path) => SendAsync(new HttpRequestMessage(HttpMethod.Get, path));

    /// <summary>GETs <paramref name="path"/> with <paramref name="host"/> as the Host header, as a browser does for the name in its address bar.</summary>
    public Task<AdminReply> GetWithHostAsync(string path, string host) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Get, path) { Headers = { Host = host } });

    /// <summary>POSTs a form as is (no anti-forgery token added).</summary>
    public Task<AdminReply> PostRawAsync(string path, IEnumerable<KeyValuePair<string, string>> fields) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(fields) });

    /// <summary>POSTs <paramref name="content"/> as is.</summary>
    public Task<AdminReply> PostContentAsync(string path, HttpContent content) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = content });

    /// <summary>Loads <paramref name="formPage"/> for its anti-forgery token, then POSTs the form with it, as a browser submits a form.</summary>
    public async Task<AdminReply> SubmitAsync(string formPage, string action, params (string Name, string Value)[] fields)
    {
        var page = await GetAsync(formPage);
        Assert.That(page.Status, Is.EqualTo(HttpStatusCode.OK), $"GET {formPage}: {page.Body}");
        var fieldsWithToken = fields.Select(f => KeyValuePair.Create(f.Name, f.Value)).Append(KeyValuePair.Create("csrf", page.CsrfToken));
        return await PostRawAsync(action, fieldsWithToken);
    }

    /// <summary>Signs in with <paramref name="token"/>.</summary>
    public Task<AdminReply> SignInAsync(string token) => SubmitAsync("/login", "/login", ("token", token));

    public void Dispose() => _client.Dispose();

    private async Task<AdminReply> SendAsync(HttpRequestMessage request)
    {
        using (request)
        using (var response = await _client.SendAsync(request).WaitAsync(TestTimeouts.Short))
        {
            var body = await response.Content.ReadAsStringAsync().WaitAsync(TestTimeouts.Short);
            var headers = response.Headers.Concat(response.Content.Headers)
                .ToDictionary(h => h.Key, h => string.Join(", ", h.Value), StringComparer.OrdinalIgnoreCase);
            var csrf = CsrfInput().Match(body);
            return new AdminReply(response.StatusCode, headers, body, csrf.Success ? WebUtility.HtmlDecode(csrf.Groups["token"].Value) : string.Empty);
        }
    }
}

/// <summary>An answer of the admin listener, read in full.</summary>
public sealed record AdminReply(HttpStatusCode Status, IReadOnlyDictionary<string, string> Headers, string Body, string CsrfToken)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}
