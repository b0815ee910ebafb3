using System.Net;
using System.Net.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Server;

namespace Rendezvous.Tests.Common;

/// <summary>
/// A real server in a generic host, its registrar on HTTPS and its relay on TCP, both on 127.0.0.1
/// with ports chosen by the system. The policy is whatever <c>configure</c> adds (a Moq mock, or TOTP).
/// </summary>
public sealed class RendezvousTestServer : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly TemporaryDirectory? _ownedDirectory;
    private bool _crashed;

    private RendezvousTestServer(IHost host, string dataDirectory, TemporaryDirectory? ownedDirectory)
    {
        _host = host;
        DataDirectory = dataDirectory;
        _ownedDirectory = ownedDirectory;
        var info = host.Services.GetRequiredService<RegistrarListenerInfo>();
        RegistrarUrl = info.Url!;
        CertificateFingerprint = info.CertificateFingerprint!;
        RelayEndPoint = new IPEndPoint(IPAddress.Loopback, host.Services.GetRequiredService<RendezvousEndpoint>().Port);
    }

    /// <summary>The registrar's base URL, e.g. https://127.0.0.1:41234/.</summary>
    public Uri RegistrarUrl { get; }

    /// <summary>The registrar certificate's SHA-256 fingerprint.</summary>
    public string CertificateFingerprint { get; }

    /// <summary>The relay's endpoint.</summary>
    public IPEndPoint RelayEndPoint { get; }

    /// <summary>The data directory (secrets database, certificate).</summary>
    public string DataDirectory { get; }

    /// <summary>The host's services.</summary>
    public IServiceProvider Services => _host.Services;

    /// <summary>The broker, to inspect or drive state directly.</summary>
    public RendezvousBroker Broker => _host.Services.GetRequiredService<RendezvousBroker>();

    /// <summary>Starts a server.</summary>
    /// <param name="configure">Adds the policy, e.g. <c>b =&gt; b.AddPolicy(mock.Object)</c> or <c>b =&gt; b.AddTotpSecurity()</c>.</param>
    /// <param name="settings">Extra configuration keys, e.g. <c>["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:01"</c>.</param>
    /// <param name="time">The clock for timeouts and TOTP; the system clock when <see langword="null"/>.</param>
    /// <param name="dataDirectory">A data directory to use (kept); a temporary one (deleted) when <see langword="null"/>.</param>
    /// <param name="logs">Receives every log record at every level (e.g. a <see cref="LogCapture"/>); when <see langword="null"/> only warnings are logged.</param>
    public static async Task<RendezvousTestServer> StartAsync(
        Action<IRendezvousServerBuilder> configure,
        IDictionary<string, string?>? settings = null,
        TimeProvider? time = null,
        string? dataDirectory = null,
        ILoggerProvider? logs = null)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var owned = dataDirectory is null ? new TemporaryDirectory() : null;
        var directory = dataDirectory ?? owned!.Path;

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var config = new Dictionary<string, string?>
        {
            ["Rendezvous:DataDirectory"] = directory,
            ["Rendezvous:RegistrarUrl"] = "https://127.0.0.1:0",
            ["Rendezvous:RendezvousEndpoint"] = "127.0.0.1:0",
            ["Rendezvous:DrainTimeout"] = "00:00:02",
        };
        if (settings is not null)
        {
            foreach (var (key, value) in settings)
            {
                config[key] = value;
            }
        }

        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.SetMinimumLevel(logs is null ? LogLevel.Warning : LogLevel.Trace);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        configure(builder.Services.AddRendezvousServer());
        var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(TestTimeouts.Long);
        }
        catch
        {
            host.Dispose();
            owned?.Dispose();
            throw;
        }

        return new RendezvousTestServer(host, directory, owned);
    }

    /// <summary>An HTTP client for the registrar that trusts exactly this server's certificate (pinned).</summary>
    public HttpClient CreateRegistrarClient()
    {
        var fingerprint = CertificateFingerprint;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is not null && string.Equals(
                        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(certificate.GetRawCertData())),
                        fingerprint.Replace(":", string.Empty, StringComparison.Ordinal),
                        StringComparison.OrdinalIgnoreCase),
            },
        };
        return new HttpClient(handler) { BaseAddress = RegistrarUrl, Timeout = TestTimeouts.Short };
    }

    /// <summary>Connects a raw client to the relay.</summary>
    public Task<LoopbackClient> ConnectRelayAsync() => LoopbackClient.ConnectAsync(RelayEndPoint);

    /// <summary>Stops the host (draining) and deletes a temporary data directory.</summary>
    public async Task StopAsync()
    {
        await _host.StopAsync().WaitAsync(TestTimeouts.Long);
    }

    /// <summary>
    /// Disposes the host without stopping it, as close to a crash as a process can do to itself: hosted services get no
    /// stop (nothing drains, nothing says goodbye), their resources are released. Dispose afterwards does nothing more.
    /// </summary>
    public async Task CrashAsync()
    {
        _crashed = true;
        if (_host is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Long);
        }
        else
        {
            _host.Dispose();
        }

        _ownedDirectory?.Dispose();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_crashed)
        {
            return;
        }

        try
        {
            await _host.StopAsync().WaitAsync(TestTimeouts.Long);
        }
        finally
        {
            _host.Dispose();
            _ownedDirectory?.Dispose();
        }
    }
}
