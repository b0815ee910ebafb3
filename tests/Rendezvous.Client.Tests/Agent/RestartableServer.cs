using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>
/// A test server that can be stopped and started again on the same ports and data directory, as after a
/// restart: what it keeps on disk (secrets, accepted TOTP steps) survives, what it holds in memory
/// (registrations, parked connections) does not.
/// </summary>
internal sealed class RestartableServer : IAsyncDisposable
{
    private readonly TemporaryDirectory _data = new();
    private readonly Action<IRendezvousServerBuilder> _configure;
    private readonly Dictionary<string, string?> _settings;
    private readonly TimeProvider? _time;

    private RestartableServer(Action<IRendezvousServerBuilder> configure, TimeProvider? time, IDictionary<string, string?>? settings)
    {
        _configure = configure;
        _time = time;
        _settings = new Dictionary<string, string?>
        {
            ["Rendezvous:RegistrarUrl"] = string.Create(CultureInfo.InvariantCulture, $"https://127.0.0.1:{ClientTestKit.FreePort()}"),
            ["Rendezvous:RendezvousEndpoint"] = string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{ClientTestKit.FreePort()}"),
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    /// <summary>The running server; <see langword="null"/> while stopped.</summary>
    public RendezvousTestServer? Current { get; private set; }

    /// <summary>The running server, or a failed test.</summary>
    public RendezvousTestServer Running => Current ?? throw new InvalidOperationException("The server is stopped.");

    /// <summary>Starts a server with the policy <paramref name="configure"/> adds, the clock <paramref name="time"/> and extra <paramref name="settings"/>.</summary>
    public static async Task<RestartableServer> StartAsync(Action<IRendezvousServerBuilder> configure, TimeProvider? time = null, IDictionary<string, string?>? settings = null)
    {
        var server = new RestartableServer(configure, time, settings);
        try
        {
            await server.StartAgainAsync();
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>Stops the server; its clients see their connections closed and the ports refused.</summary>
    public async Task StopAsync()
    {
        if (Current is { } current)
        {
            Current = null;
            await current.DisposeAsync();
        }
    }

    /// <summary>Starts it again on the same ports and data directory.</summary>
    public async Task StartAgainAsync() =>
        Current = await RendezvousTestServer.StartAsync(_configure, _settings, _time, _data.Path);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _data.Dispose();
        }
    }
}
