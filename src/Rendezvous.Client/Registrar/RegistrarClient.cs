using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text.Json;
using Rendezvous.Client.Internal;
using Rendezvous.Protocol.Registrar;

namespace Rendezvous.Client.Registrar;

/// <summary>
/// Talks to a Rendezvous (or node-rendezvous) registrar over HTTPS (never plain HTTP: the registrar's certificate
/// is checked before a code is sent): registers a hidden server with a
/// TOTP code, looks a UUID up. Reads the JSON body whatever the status, maps <c>permanent: true</c> to a
/// non-retryable <see cref="RendezvousException"/>, and reports 429's <c>Retry-After</c>.
/// </summary>
public sealed class RegistrarClient : IDisposable
{
    /// <summary>The registrar's port by default, for messages.</summary>
    private const int DefaultRegistrarPort = 8898;

    /// <summary>The relay's port by default, for messages.</summary>
    private const int DefaultRelayPort = 8899;

    /// <summary>The most addresses of one registrar name tried for one connection.</summary>
    private const int MaxAddressesTried = 8;

    /// <summary>The least time one address of several is given to accept a connection.</summary>
    private static readonly TimeSpan MinimumConnectShare = TimeSpan.FromSeconds(1);

    private readonly HttpClient _http;
    private readonly TimeSpan _connectTimeout;
    private readonly RegistrarTrust.CertificateValidator _validator;
    private byte[]? _lastPlainAnswer;
    private int _plainAnswers;

    /// <summary>Creates a client for <paramref name="registrarUrl"/>.</summary>
    /// <param name="registrarUrl">The registrar's base URL, e.g. <c>https://rendezvous.example.com:8898/</c>; it must be https://.</param>
    /// <param name="trust">How to trust its certificate; the system store when <see langword="null"/>.</param>
    /// <param name="timeout">How long one request may take. Defaults to 10 seconds.</param>
    /// <exception cref="ArgumentException">The URL is not https://, or <paramref name="trust"/> is invalid; the message names the value.</exception>
    public RegistrarClient(Uri registrarUrl, RegistrarTrust? trust = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(registrarUrl);
        if (OptionChecks.RegistrarUrlProblem(registrarUrl) is { } problem)
        {
            throw new ArgumentException(problem, nameof(registrarUrl));
        }

        RegistrarUrl = registrarUrl;
        _connectTimeout = timeout ?? TimeSpan.FromSeconds(10);
        trust ??= new RegistrarTrust();
        _validator = trust.CreateValidator();
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = timeout ?? TimeSpan.FromSeconds(10),
            ConnectCallback = ConnectAsync,
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
        var refusalsBefore = _validator.Refusals;
        var plainAnswersBefore = Volatile.Read(ref _plainAnswers);
        try
        {
            response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException
            && _validator.Refusals != refusalsBefore && _validator.LastRefused is { } refused)
        {
            throw _validator.SystemStoreOnly
                ? new CertificateNotTrustedException($"registrar at {RegistrarUrl}", refused.Fingerprint, NotTrustedReason(refused.Errors), ex)
                : new CertificatePinMismatchException($"registrar at {RegistrarUrl}", _validator.Expected, refused.Fingerprint, ex);
        }
        catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            // The TLS handshake failed without a certificate being refused: most often the URL names a port
            // that does not speak TLS, such as the relay's, which answers the TLS hello with "-ERR ...".
            var answer = Volatile.Read(ref _plainAnswers) != plainAnswersBefore ? Volatile.Read(ref _lastPlainAnswer) : null;
            var what = answer is null
                ? $"The TLS handshake with the registrar at {RegistrarUrl} failed ({ex.InnerException?.Message ?? ex.Message})."
                : $"The registrar at {RegistrarUrl} did not speak TLS: it answered {AnswerText.Quote(answer)} in plain text{(AnswerText.IsRelayReply(answer) ? ", as a rendezvous relay does" : string.Empty)}.";
            throw new RendezvousException(
                RendezvousError.Transport,
                $"{what} Is the port the registrar's (default {DefaultRegistrarPort}) and not the relay's ({DefaultRelayPort})?",
                ex);
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
                : (int)status >= 500 ? RendezvousError.Unavailable
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
            return new RendezvousTriple(host.GetString()!, portNumber, cookie.GetString()!)
            {
                Alternates = ReadAlternates(result, host.GetString()!, portNumber),
                PoolAdvice = result.TryGetProperty("pool", out var pool) && pool.ValueKind == JsonValueKind.Number
                    && pool.TryGetInt32(out var poolSize) && poolSize is > 0 and <= RendezvousTriple.MaxPoolAdvice ? poolSize : null,
            };
        }

        throw new RendezvousException(RendezvousError.Transport, $"The registrar at {RegistrarUrl} answered {(int)status} with JSON that is neither a result nor an error.");
    }

    /// <summary>
    /// The extra <c>alternates</c> field of a cluster's answer (<c>[{"host":...,"port":...}]</c>): at most
    /// <see cref="RendezvousTriple.MaxAlternates"/> well-formed entries other than the owner, in order. Anything else
    /// (not an array, an entry without a host name or with a port out of range, a duplicate) is left out: an old or
    /// odd registrar's extras never make an answer unusable.
    /// </summary>
    private static RelayAddress[] ReadAlternates(JsonElement result, string ownerHost, int ownerPort)
    {
        if (!result.TryGetProperty("alternates", out var alternates) || alternates.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        var found = new List<RelayAddress>();
        var looked = 0;
        foreach (var entry in alternates.EnumerateArray())
        {
            // Bounded: a huge array costs a look at a few more entries than are kept, not one per entry.
            if (found.Count == RendezvousTriple.MaxAlternates || ++looked > RendezvousTriple.MaxAlternates * 4)
            {
                break;
            }

            if (entry.ValueKind == JsonValueKind.Object
                && entry.TryGetProperty("host", out var host) && host.ValueKind == JsonValueKind.String && IsHostText(host.GetString()!)
                && entry.TryGetProperty("port", out var port) && port.ValueKind == JsonValueKind.Number && port.TryGetInt32(out var number) && number is > 0 and <= 65535)
            {
                var address = new RelayAddress(host.GetString()!, number);
                if (!(string.Equals(address.Host, ownerHost, StringComparison.OrdinalIgnoreCase) && number == ownerPort) && !found.Contains(address))
                {
                    found.Add(address);
                }
            }
        }

        return found.Count == 0 ? [] : [.. found];
    }

    /// <summary>Whether <paramref name="text"/> can be a host name or address: 1 to 253 printable ASCII characters, no space.</summary>
    private static bool IsHostText(string text) => text.Length is > 0 and <= 253 && text.All(c => c is > ' ' and < (char)127);

    /// <summary>Why the system trust store refused a certificate, in words.</summary>
    private string NotTrustedReason(SslPolicyErrors errors)
    {
        var reasons = new List<string>();
        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            reasons.Add("it is self-signed or its issuer is not a trusted CA");
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            reasons.Add($"it is not issued for {RegistrarUrl.IdnHost}");
        }

        return reasons.Count == 0 ? $"TLS reports {errors}" : string.Join(", and ", reasons);
    }

    /// <summary>
    /// How the registrar's host name is resolved; <see cref="Dns.GetHostAddressesAsync(string, CancellationToken)"/> unless a
    /// test gives a name its own addresses.
    /// </summary>
    internal Func<string, CancellationToken, Task<IPAddress[]>> Resolve { get; init; } = Dns.GetHostAddressesAsync;

    /// <summary>
    /// Connects to the registrar's host, keeping the first bytes each connection receives for <see cref="SendAsync"/>'s
    /// messages. A name with several addresses (one DNS name for several registrars) is connected to address by address,
    /// each given its share of the connect timeout (at least <see cref="MinimumConnectShare"/>), so one that refuses or
    /// does not answer leads to the next; TLS and its certificate check then run on the connection as always.
    /// </summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Resolve(host, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
        {
            throw new SocketException((int)SocketError.HostNotFound);
        }

        var count = Math.Min(addresses.Length, MaxAddressesTried);
        var share = TimeSpan.FromTicks(Math.Max(MinimumConnectShare.Ticks, _connectTimeout.Ticks / count));
        Exception? failure = null;
        for (var i = 0; i < count; i++)
        {
            var socket = new Socket(addresses[i].AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (count > 1)
            {
                deadline.CancelAfter(share);
            }

            try
            {
                await socket.ConnectAsync(addresses[i], context.DnsEndPoint.Port, deadline.Token).ConfigureAwait(false);
                return new FirstBytesStream(new NetworkStream(socket, ownsSocket: true), first =>
                {
                    if (!AnswerText.IsTls(first))
                    {
                        Volatile.Write(ref _lastPlainAnswer, first);
                        Interlocked.Increment(ref _plainAnswers);
                    }
                });
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                failure = ex;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                failure = new SocketException((int)SocketError.TimedOut);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw failure!;
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
