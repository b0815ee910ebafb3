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
[System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027", Justification = "The 0.1.0 constructor keeps its optional logger; the one with a directory, which DI picks, takes it as required.")]
public sealed class RegistrarService
{
    /// <summary>How long a caller is asked to wait when the directory cannot be reached.</summary>
    private static readonly TimeSpan UnavailableRetryAfter = TimeSpan.FromSeconds(2);

    private readonly RendezvousBroker _broker;
    private readonly IRegistrationDirectory _directory;
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
        : this(new LocalRegistrationDirectory(broker), broker, policy, options, endpoint, metrics, logger)
    {
    }

    /// <summary>Creates the registrar logic over a registration directory (shared by the nodes of a cluster, say).</summary>
    /// <param name="directory">Issues and looks up registrations, and says where hidden servers park.</param>
    /// <param name="broker">The node's broker, whose activity counts refusals.</param>
    /// <param name="policy">Decides who may register.</param>
    /// <param name="options">Public host and port for triples that name this node.</param>
    /// <param name="endpoint">The rendezvous listener's bound port.</param>
    /// <param name="metrics">Counters.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    public RegistrarService(
        IRegistrationDirectory directory,
        RendezvousBroker broker,
        IRegistrationPolicy policy,
        IOptionsMonitor<RegistrarOptions> options,
        RendezvousEndpoint endpoint,
        RendezvousMetrics metrics,
        ILogger<RegistrarService>? logger)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(metrics);
        _directory = directory;
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
        try
        {
            return request.Response is null
                ? await LookupAsync(request, cancellationToken).ConfigureAwait(false)
                : await RegisterAsync(request, request.Response, cancellationToken).ConfigureAwait(false);
        }
        catch (RegistrationDirectoryUnavailableException exception)
        {
            if (request.Response is null)
            {
                _metrics.Lookup("unavailable");
            }
            else
            {
                _metrics.Registration("unavailable");
            }

            ProtocolLog.DirectoryUnavailable(_logger, request.Response is null ? "lookup" : "registration", Loggable(request.Uuid!), exception.Message);
            return Unavailable();
        }
    }

    /// <summary>The answer when the directory or the policy's store cannot be reached: 503, retry shortly.</summary>
    private static RegistrarResponse Unavailable()
        => new(503, ErrorBody(permanent: false, "service unavailable, retry later"), RetryAfter: UnavailableRetryAfter);

    /// <summary>The UUID as it may appear in logs: canonical, or a placeholder for caller-chosen text.</summary>
    private static string Loggable(string uuid) => UuidText.TryNormalize(uuid, out var canonical) ? canonical : "(not a UUID)";

    private async ValueTask<RegistrarResponse> LookupAsync(RegistrarRequest request, CancellationToken cancellationToken)
    {
        if (await _directory.LookupAsync(request.Uuid!, cancellationToken).ConfigureAwait(false) is not { } entry)
        {
            _metrics.Lookup("not_registered");
            ProtocolLog.Lookup(_logger, Loggable(request.Uuid!), request.RemoteAddress, "not registered");
            return new RegistrarResponse(200, ErrorBody(permanent: false, "not registered"));
        }

        _metrics.Lookup("found");
        ProtocolLog.Lookup(_logger, Loggable(request.Uuid!), request.RemoteAddress, "found");
        return new RegistrarResponse(200, TripleBody(request, 'I', entry));
    }

    private async ValueTask<RegistrarResponse> RegisterAsync(RegistrarRequest request, string response, CancellationToken cancellationToken)
    {
        var decision = await _policy.AuthorizeAsync(new RegistrationRequest(request.Uuid!, response, request.RemoteAddress), cancellationToken).ConfigureAwait(false);
        switch (decision.Outcome)
        {
            case RegistrationOutcome.Accepted:
                var entry = await _directory.RegisterAsync(request.Uuid!, cancellationToken).ConfigureAwait(false);
                _metrics.Registration("accepted");
                ProtocolLog.Registered(_logger, Loggable(request.Uuid!), request.RemoteAddress);
                return new RegistrarResponse(200, TripleBody(request, 'R', entry));

            case RegistrationOutcome.Unavailable:
                _metrics.Registration("unavailable");
                ProtocolLog.RegistrationRefused(_logger, Loggable(request.Uuid!), request.RemoteAddress, "unavailable");
                return Unavailable();

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

    /// <summary>
    /// The triple, <c>{"result":{"host":...,"port":...,"cookie":...}}</c>, byte for byte as the original writes it; a
    /// cluster's alternates (<c>"alternates":[{"host":...,"port":...}]</c>) and a registration's pool advice
    /// (<c>"pool":N</c>) follow in extra fields, which clients of the original ignore, only when there are any.
    /// </summary>
    private string TripleBody(RegistrarRequest request, char mode, DirectoryEntry entry)
    {
        string host;
        int port;
        if (entry.Relay is { } relay)
        {
            (host, port) = (relay.Host, relay.Port);
        }
        else
        {
            var options = _options.CurrentValue;
            host = !string.IsNullOrWhiteSpace(options.PublicHost) ? options.PublicHost : request.RequestHost ?? string.Empty;
            if (string.IsNullOrEmpty(host))
            {
                host = "127.0.0.1";
            }

            port = options.PublicPort ?? _endpoint.Port;
        }

        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("result");
            json.WriteString("host", host);
            json.WriteNumber("port", port);
            json.WriteString("cookie", string.Concat(mode.ToString(), entry.Cookie));
            if (entry.Alternates.Count > 0)
            {
                json.WriteStartArray("alternates");
                foreach (var alternate in entry.Alternates)
                {
                    json.WriteStartObject();
                    json.WriteString("host", alternate.Host);
                    json.WriteNumber("port", alternate.Port);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            if (mode == 'R' && entry.PoolSize is { } pool)
            {
                json.WriteNumber("pool", pool);
            }

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
