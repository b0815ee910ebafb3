using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Text.Json;

namespace Rendezvous.Client.Registrar;

/// <summary>
/// Talks to a Rendezvous (or node-rendezvous) registrar over HTTPS: registers a hidden server with a
/// TOTP code, looks a UUID up. Reads the JSON body whatever the status, maps <c>permanent: true</c> to a
/// non-retryable <see cref="RendezvousException"/>, and reports 429's <c>Retry-After</c>.
/// </summary>
public sealed class RegistrarClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly RegistrarTrust.CertificateValidator? _validator;

    /// <summary>Creates a client for <paramref name="registrarUrl"/>.</summary>
    /// <param name="registrarUrl">The registrar's base URL, e.g. <c>https://rendezvous.example.com:8898/</c>.</param>
    /// <param name="trust">How to trust its certificate; the system store when <see langword="null"/>.</param>
    /// <param name="timeout">How long one request may take. Defaults to 10 seconds.</param>
    public RegistrarClient(Uri registrarUrl, RegistrarTrust? trust = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(registrarUrl);
        if (registrarUrl.Scheme != Uri.UriSchemeHttps && registrarUrl.Scheme != Uri.UriSchemeHttp)
        {
            throw new ArgumentException($"The registrar URL '{registrarUrl}' must start with https:// (or http:// behind a TLS proxy).", nameof(registrarUrl));
        }

        RegistrarUrl = registrarUrl;
        trust ??= new RegistrarTrust();
        _validator = trust.CreateValidator();
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = timeout ?? TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = { RemoteCertificateValidationCallback = _validator.Validate },
        };
        _http = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(10) };
    }

    /// <summary>The registrar's base URL.</summary>
    public Uri RegistrarUrl { get; }

    /// <summary>Registers <paramref name="uuid"/> with a one-time code: <c>PUT /?uuid=..&amp;response=..</c>.</summary>
    /// <param name="uuid">The hidden server's UUID.</param>
    /// <param name="code">The TOTP code for now.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The triple with an <c>R</c> cookie.</returns>
    /// <exception cref="RendezvousException">Refused (invalid request, throttled, permanent) or unreachable.</exception>
    public Task<RendezvousTriple> RegisterAsync(string uuid, string code, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        ArgumentException.ThrowIfNullOrEmpty(code);
        return SendAsync(HttpMethod.Put, $"?uuid={Uri.EscapeDataString(uuid)}&response={Uri.EscapeDataString(code)}", cancellationToken);
    }

    /// <summary>Looks <paramref name="uuid"/> up: <c>GET /?uuid=..</c>.</summary>
    /// <param name="uuid">The hidden server's UUID.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The triple with an <c>I</c> cookie.</returns>
    /// <exception cref="RendezvousException"><see cref="RendezvousError.NotRegistered"/> when the hidden server is not registered; others when unreachable.</exception>
    public Task<RendezvousTriple> LookupAsync(string uuid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        return SendAsync(HttpMethod.Get, $"?uuid={Uri.EscapeDataString(uuid)}", cancellationToken);
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private async Task<RendezvousTriple> SendAsync(HttpMethod method, string query, CancellationToken cancellationToken)
    {
        // Relative to the base URL, so a registrar behind a reverse proxy under a path prefix is reached there.
        using var request = new HttpRequestMessage(method, new Uri(RegistrarUrl, query));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response;
        var refusalsBefore = _validator?.Refusals ?? 0;
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException
            && _validator is { } validator && validator.Refusals != refusalsBefore && validator.LastRefused is { } presented)
        {
            throw new CertificatePinMismatchException("registrar", validator.Expected, presented, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new RendezvousException(RendezvousError.Transport, $"The registrar at {RegistrarUrl} could not be reached: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RendezvousException(RendezvousError.Timeout, $"The registrar at {RegistrarUrl} did not answer in time.", ex);
        }

        using (response)
        {
            string body;
            try
            {
                body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex)
            {
                throw new RendezvousException(RendezvousError.Transport, $"The registrar at {RegistrarUrl} broke off its answer: {ex.Message}", ex);
            }

            return Interpret(response.StatusCode, RetryAfter(response), response.Headers.Date, body);
        }
    }

    private RendezvousTriple Interpret(HttpStatusCode status, TimeSpan? retryAfter, DateTimeOffset? date, string body)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(body);
            root = document.RootElement.Clone();
        }
        catch (JsonException) when (status == HttpStatusCode.TooManyRequests)
        {
            // A rate-limiting proxy in front of the registrar answers with its own page; still honour Retry-After.
            throw new RendezvousException(RendezvousError.Throttled, $"The registrar at {RegistrarUrl} is throttling requests (HTTP 429).", retryAfter: retryAfter);
        }
        catch (JsonException)
        {
            throw new RendezvousException(RendezvousError.Transport, $"The registrar at {RegistrarUrl} answered {(int)status} without a JSON body; is it a Rendezvous registrar?");
        }

        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
        {
            var permanent = error.TryGetProperty("permanent", out var p) && p.ValueKind == JsonValueKind.True;
            var diagnostic = error.TryGetProperty("diagnostic", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "no diagnostic";
            var kind = status == HttpStatusCode.TooManyRequests ? RendezvousError.Throttled
                : permanent ? RendezvousError.Permanent
                : diagnostic switch
                {
                    "not registered" => RendezvousError.NotRegistered,
                    "invalid request" => RendezvousError.InvalidRequest,
                    _ => RendezvousError.Refused,
                };
            throw new RendezvousException(kind, $"The registrar refused: {diagnostic} (HTTP {(int)status}).", permanent: permanent, retryAfter: retryAfter) { RegistrarDate = date };
        }

        if (root.ValueKind == JsonValueKind.Object
            && root.TryGetProperty("result", out var result) && result.ValueKind == JsonValueKind.Object
            && result.TryGetProperty("host", out var host) && host.ValueKind == JsonValueKind.String
            && result.TryGetProperty("port", out var port) && port.TryGetInt32(out var portNumber) && portNumber is > 0 and <= 65535
            && result.TryGetProperty("cookie", out var cookie) && cookie.ValueKind == JsonValueKind.String && cookie.GetString()!.Length > 1)
        {
            return new RendezvousTriple(host.GetString()!, portNumber, cookie.GetString()!);
        }

        throw new RendezvousException(RendezvousError.Transport, $"The registrar at {RegistrarUrl} answered {(int)status} with JSON that is neither a result nor an error.");
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is { } header)
        {
            if (header.Delta is { } delta)
            {
                return delta;
            }

            if (header.Date is { } date)
            {
                var wait = date - DateTimeOffset.UtcNow;
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }

        return response.Headers.TryGetValues("Retry-After", out var values)
            && int.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;
    }
}
