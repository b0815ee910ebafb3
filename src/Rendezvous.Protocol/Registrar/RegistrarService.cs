using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Protocol.Internal;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Protocol.Registrar;

/// <summary>
/// The registrar's request logic, independent of any HTTP server: PUT registers (after the policy
/// agrees) and answers an <c>R</c> triple, GET looks up and answers an <c>I</c> triple, with the
/// original's status codes and bodies.
/// </summary>
public sealed class RegistrarService
{
    private readonly RendezvousBroker _broker;
    private readonly IRegistrationPolicy _policy;
    private readonly IOptionsMonitor<RegistrarOptions> _options;
    private readonly RendezvousEndpoint _endpoint;
    private readonly RendezvousMetrics _metrics;
    private readonly ILogger _logger;

    /// <summary>Creates the registrar logic.</summary>
    /// <param name="broker">Issues and looks up cookies.</param>
    /// <param name="policy">Decides who may register.</param>
    /// <param name="options">Public host and port for triples.</param>
    /// <param name="endpoint">The rendezvous listener's bound port.</param>
    /// <param name="metrics">Counters.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    public RegistrarService(
        RendezvousBroker broker,
        IRegistrationPolicy policy,
        IOptionsMonitor<RegistrarOptions> options,
        RendezvousEndpoint endpoint,
        RendezvousMetrics metrics,
        ILogger<RegistrarService>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(metrics);
        _broker = broker;
        _policy = policy;
        _options = options;
        _endpoint = endpoint;
        _metrics = metrics;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>Answers one registrar request.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancelled when the caller goes away.</param>
    /// <returns>The answer to send.</returns>
    public async ValueTask<RegistrarResponse> HandleAsync(RegistrarRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);

        // The original checks the uuid first, whatever the method.
        if (string.IsNullOrEmpty(request.Uuid))
        {
            return new RegistrarResponse(404, ErrorBody(permanent: true, "missing uuid parameter"));
        }

        var expected = request.Response is null ? "GET" : "PUT";
        if (!string.Equals(request.Method, expected, StringComparison.Ordinal))
        {
            return new RegistrarResponse(405, ErrorBody(permanent: true, $"expecting {expected} not {request.Method}"), Allow: expected);
        }

        // One key per UUID whatever its spelling (case, braces), so lookups find registrations.
        var key = UuidText.TryNormalize(request.Uuid, out var canonical) ? canonical : request.Uuid;
        request = request with { Uuid = key };
        return request.Response is null
            ? Lookup(request)
            : await RegisterAsync(request, request.Response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The UUID as it may appear in logs: canonical, or a placeholder for caller-chosen text.</summary>
    private static string Loggable(string uuid) => UuidText.TryNormalize(uuid, out var canonical) ? canonical : "(not a UUID)";

    private RegistrarResponse Lookup(RegistrarRequest request)
    {
        if (!_broker.TryGetInitiatorCookie(request.Uuid!, out var cookie))
        {
            _metrics.Lookup("not_registered");
            ProtocolLog.Lookup(_logger, Loggable(request.Uuid!), request.RemoteAddress, "not registered");
            return new RegistrarResponse(200, ErrorBody(permanent: false, "not registered"));
        }

        _metrics.Lookup("found");
        ProtocolLog.Lookup(_logger, Loggable(request.Uuid!), request.RemoteAddress, "found");
        return new RegistrarResponse(200, TripleBody(request, 'I', cookie));
    }

    private async ValueTask<RegistrarResponse> RegisterAsync(RegistrarRequest request, string response, CancellationToken cancellationToken)
    {
        var decision = await _policy.AuthorizeAsync(new RegistrationRequest(request.Uuid!, response, request.RemoteAddress), cancellationToken).ConfigureAwait(false);
        switch (decision.Outcome)
        {
            case RegistrationOutcome.Accepted:
                var cookie = _broker.Register(request.Uuid!);
                _metrics.Registration("accepted");
                ProtocolLog.Registered(_logger, Loggable(request.Uuid!), request.RemoteAddress);
                return new RegistrarResponse(200, TripleBody(request, 'R', cookie));

            case RegistrationOutcome.Throttled:
                _metrics.Registration("throttled");
                RecordRefusal(request.Uuid!);
                ProtocolLog.RegistrationRefused(_logger, Loggable(request.Uuid!), request.RemoteAddress, "throttled");
                return new RegistrarResponse(429, ErrorBody(permanent: false, "too many failed attempts, retry later"), RetryAfter: decision.RetryAfter);

            default:
                _metrics.Registration("rejected");
                RecordRefusal(request.Uuid!);
                ProtocolLog.RegistrationRefused(_logger, Loggable(request.Uuid!), request.RemoteAddress, "rejected");
                return new RegistrarResponse(200, ErrorBody(permanent: false, "invalid request"));
        }
    }

    /// <summary>Counts a refusal against the UUID, when it is one (caller-chosen text is not kept).</summary>
    private void RecordRefusal(string uuid)
    {
        if (UuidText.TryNormalize(uuid, out var canonical))
        {
            _broker.Activity.Refused(canonical);
        }
    }

    private string TripleBody(RegistrarRequest request, char mode, string cookie)
    {
        var options = _options.CurrentValue;
        var host = !string.IsNullOrWhiteSpace(options.PublicHost) ? options.PublicHost : request.RequestHost;
        if (string.IsNullOrEmpty(host))
        {
            host = "127.0.0.1";
        }

        var port = options.PublicPort ?? _endpoint.Port;
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("result");
            json.WriteString("host", host);
            json.WriteNumber("port", port);
            json.WriteString("cookie", string.Concat(mode.ToString(), cookie));
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The error body every failure uses: <c>{"error":{"permanent":...,"diagnostic":"..."}}</c>.</summary>
    /// <param name="permanent">Whether retrying cannot help.</param>
    /// <param name="diagnostic">The message.</param>
    /// <returns>The JSON text.</returns>
    public static string ErrorBody(bool permanent, string diagnostic)
    {
        var buffer = new ArrayBufferWriter<byte>(96);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("error");
            json.WriteBoolean("permanent", permanent);
            json.WriteString("diagnostic", diagnostic);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
