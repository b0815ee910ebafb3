using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OtpNet;
using Rendezvous.Server.Admin;
using Rendezvous.Host.Commands;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Security;
using Rendezvous.Server;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary>
/// The host <c>rendezvous serve</c> builds, run in-process with the admin page: registrar (HTTPS), relay and admin
/// listener on 127.0.0.1 with ports chosen by the system, data in a temporary directory.
/// </summary>
internal sealed class AdminServer : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly TemporaryDirectory _directory;

    private AdminServer(IHost host, TemporaryDirectory directory)
    {
        _host = host;
        _directory = directory;
    }

    /// <summary>The admin listener's base URL.</summary>
    public Uri AdminUrl => _host.Services.GetRequiredService<AdminListenerInfo>().Url!;

    /// <summary>The registrar's base URL.</summary>
    public Uri RegistrarUrl => _host.Services.GetRequiredService<RegistrarListenerInfo>().Url!;

    /// <summary>The registrar certificate's SHA-256 fingerprint.</summary>
    public string Fingerprint => _host.Services.GetRequiredService<RegistrarListenerInfo>().CertificateFingerprint!;

    /// <summary>The relay's endpoint.</summary>
    public IPEndPoint RelayEndPoint => new(IPAddress.Loopback, _host.Services.GetRequiredService<RendezvousEndpoint>().Port);

    /// <summary>The data directory.</summary>
    public string DataDirectory => _directory.Path;

    /// <summary>The real SQLite secret store the service uses.</summary>
    public SecretStore Store => _host.Services.GetRequiredService<SecretStore>();

    /// <summary>The broker.</summary>
    public RendezvousBroker Broker => _host.Services.GetRequiredService<RendezvousBroker>();

    /// <summary>The host's services.</summary>
    public IServiceProvider Services => _host.Services;

    /// <summary>The generated admin token, read from its file.</summary>
    public string Token => File.ReadAllText(Path.Combine(DataDirectory, AdminOptions.TokenFileName)).Trim();

    /// <summary>Starts serve's host; <paramref name="settings"/> override or add configuration keys.</summary>
    public static async Task<AdminServer> StartAsync(IDictionary<string, string?>? settings = null)
    {
        var directory = new TemporaryDirectory();
        var overrides = new Dictionary<string, string?>
        {
            ["Rendezvous:DataDirectory"] = directory.Path,
            ["Rendezvous:RegistrarUrl"] = "https://127.0.0.1:0",
            ["Rendezvous:RendezvousEndpoint"] = "127.0.0.1:0",
            ["Rendezvous:Admin:Url"] = "http://127.0.0.1:0",
            ["Rendezvous:DrainTimeout"] = "00:00:05",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            overrides[key] = value;
        }

        var host = ServeCommand.BuildHost(overrides);
        try
        {
            await host.StartAsync().WaitAsync(TestTimeouts.Long);
        }
        catch
        {
            host.Dispose();
            directory.Dispose();
            throw;
        }

        return new AdminServer(host, directory);
    }

    /// <summary>An admin client (cookies kept, redirects not followed) for this server.</summary>
    public AdminClient CreateClient() => new(AdminUrl, Fingerprint);

    /// <summary>Adds an entry straight to the store, with a secret the test knows.</summary>
    public async Task<SecretEntry> AddEntryAsync(string? uuid = null)
    {
        var entry = new SecretEntry(uuid ?? Guid.NewGuid().ToString("D"), SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, DateTimeOffset.UtcNow);
        await Store.AddAsync(entry).WaitAsync(TestTimeouts.Short);
        return entry;
    }

    /// <summary>Registers <paramref name="entry"/> at the registrar the way a hidden server does; returns the R and I cookies.</summary>
    public async Task<(string Responder, string Initiator)> RegisterAsync(SecretEntry entry)
    {
        using var registrar = RegistrarClient.CreatePinned(RegistrarUrl, Fingerprint);
        var code = new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, entry.Digits).ComputeTotp(DateTime.UtcNow);
        var registered = await registrar.RegisterAsync(entry.Uuid, code);
        var lookedUp = await registrar.LookUpAsync(entry.Uuid);
        return (registered.Triple.Cookie, lookedUp.Triple.Cookie);
    }

    /// <summary>Stops the host (listeners close, sessions drain).</summary>
    public Task StopAsync() => _host.StopAsync().WaitAsync(TestTimeouts.Long);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync().WaitAsync(TestTimeouts.Long);
        }
        finally
        {
            _host.Dispose();
            _directory.Dispose();
        }
    }
}
