using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Security;
using Rendezvous.Server;
using Rendezvous.Tests.Common;

namespace Rendezvous.Fuzz.Targets;

/// <summary>
/// The registrar's request handling short of Kestrel: <see cref="RegistrarEndpoint.HandleAsync"/> with the real
/// <c>serve</c> services (broker, TOTP policy, SQLite store holding one known UUID) on a request built from the
/// input's lines: method, raw query string (as after the <c>?</c>), Host header (when Kestrel would pass it on), remote address. The answer must
/// be one the protocol documents (200, 404, 405 or 429 with a JSON body), never a 500, and nothing may log a
/// warning or an error (the endpoint turns any exception into a 500 and a log line; the policy turns a store failure
/// into a refusal and a log line). The fake clock moves past the failure window after every request, so
/// throttling never hides the code behind it.
/// </summary>
internal sealed class QueryTarget : FuzzTarget
{
    /// <summary>The UUID the store knows (its secret is random), so that lookups and registrations find an entry.</summary>
    public const string KnownUuid = "123e4567-e89b-12d3-a456-426614174000";

    private static readonly int[] DocumentedStatuses = [200, 404, 405, 429];

    private readonly TemporaryDirectory _folder = new();
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly LogCapture _warnings = new();
    private readonly ServiceProvider _services;

    public QueryTarget()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddSingleton<TimeProvider>(_clock);
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning).AddProvider(_warnings));
        services.AddRendezvousServer().AddTotpSecurity(options => options.DatabasePath = _folder.Combine("rendezvous.db"));
        _services = services.BuildServiceProvider();
        _services.GetRequiredService<SecretStore>()
            .AddAsync(new SecretEntry(KnownUuid, SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, _clock.GetUtcNow()))
            .GetAwaiter().GetResult();
    }

    public override string Name => "query";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Rendezvous.Server.dll", "Rendezvous.Protocol.dll", "Rendezvous.Security.dll"];

    public override void Run(ReadOnlySpan<byte> input)
    {
        string[] lines = Encoding.UTF8.GetString(input).Split('\n', 4);
        var context = new DefaultHttpContext { RequestServices = _services };
        context.Request.Method = lines[0];
        context.Request.QueryString = new QueryString("?" + (lines.Length > 1 ? lines[1] : string.Empty));
        if (lines.Length > 2 && IsHostKestrelPasses(lines[2]))
        {
            // As Kestrel hands it over: the raw header (HttpRequest.Host decodes it when read).
            context.Request.Headers.Host = lines[2];
        }

        context.Connection.RemoteIpAddress = lines.Length > 3 && IPAddress.TryParse(lines[3], out var address) ? address : IPAddress.Loopback;
        var body = new MemoryStream();
        context.Response.Body = body;

        int logged = _warnings.Records.Count;
        RegistrarEndpoint.HandleAsync(context).GetAwaiter().GetResult();
        _clock.Advance(TimeSpan.FromMinutes(2));

        if (_warnings.Records.Count > logged)
        {
            throw new FuzzContractException($"the request logged: {_warnings.Records[logged].Level} {_warnings.Records[logged].AllText}");
        }

        int status = context.Response.StatusCode;
        if (!DocumentedStatuses.Contains(status))
        {
            throw new FuzzContractException($"the registrar answered {status}; the protocol documents 200, 404, 405 and 429.");
        }

        try
        {
            using var json = JsonDocument.Parse(body.ToArray());
            if (!json.RootElement.TryGetProperty("result", out _) && !json.RootElement.TryGetProperty("error", out _))
            {
                throw new FuzzContractException($"the body has neither \"result\" nor \"error\": {json.RootElement.GetRawText()}");
            }
        }
        catch (JsonException ex)
        {
            throw new FuzzContractException($"the {status} body is not JSON.", ex);
        }
    }

    /// <summary>
    /// Whether Kestrel lets a request with this Host header reach the application: printable ASCII without the
    /// characters a URI authority cannot hold (Kestrel answers 400 itself for those, or for an empty Host).
    /// </summary>
    private static bool IsHostKestrelPasses(string host) =>
        host.Length > 0 && host.All(c => c is > ' ' and < (char)0x7F && !"/?#@\"<>\\^`{|}".Contains(c, StringComparison.Ordinal));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _services.Dispose();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            _folder.Dispose();
        }
    }
}
