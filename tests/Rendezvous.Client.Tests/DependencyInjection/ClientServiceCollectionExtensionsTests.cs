using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.DependencyInjection;

/// <summary>The DI registrations in a generic host, configured from configuration sections.</summary>
public sealed class ClientServiceCollectionExtensionsTests
{
    private RendezvousTestServer _server = null!;
    private HiddenServerIdentity _identity = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        _server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        _identity = await ClientTestKit.ProvisionAsync(_server);
    }

    [TearDown]
    public async Task StopServerAsync() => await _server.DisposeAsync();

    private static IHost BuildHost(IDictionary<string, string?> settings, Action<IServiceCollection> configure)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        configure(builder.Services);
        return builder.Build();
    }

    private Dictionary<string, string?> HiddenServerSettings() => new()
    {
        ["Rendezvous:HiddenServer:RegistrarUrl"] = _server.RegistrarUrl.ToString(),
        ["Rendezvous:HiddenServer:Uuid"] = _identity.Uuid,
        ["Rendezvous:HiddenServer:Secret"] = _identity.Base32Secret,
        ["Rendezvous:HiddenServer:Trust:PinnedFingerprint"] = _server.CertificateFingerprint,
        ["Rendezvous:HiddenServer:PoolSize"] = "1",
    };

    private Dictionary<string, string?> ClientSettings() => new()
    {
        ["Rendezvous:Client:RegistrarUrl"] = _server.RegistrarUrl.ToString(),
        ["Rendezvous:Client:Trust:PinnedFingerprint"] = _server.CertificateFingerprint,
    };

    [Test]
    public async Task Hidden_server_runs_as_a_hosted_service_and_serves_sessions()
    {
        using var host = BuildHost(HiddenServerSettings(), s => s.AddRendezvousHiddenServer<EchoHandler>());
        await host.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            var agent = host.Services.GetRequiredService<HiddenServerAgent>();
            await ClientTestKit.WaitUntilAsync(() => agent.Status.Parked == 1, "the hosted agent parks");
            using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));

            var echoed = await ClientTestKit.RoundTripAsync(connector, _identity.Uuid, [1, 2, 3]);

            Assert.Multiple(() =>
            {
                Assert.That(echoed, Is.EqualTo(new byte[] { 1, 2, 3 }));
                Assert.That(host.Services.GetServices<IHostedService>(), Does.Contain(agent));
                Assert.That(agent.Status.TotalSessions, Is.EqualTo(1));
            });
        }
        finally
        {
            await host.StopAsync().WaitAsync(TestTimeouts.Short);
        }
    }

    [Test]
    public async Task Hidden_server_options_set_in_code_are_applied_over_configuration()
    {
        var settings = HiddenServerSettings();
        settings.Remove("Rendezvous:HiddenServer:Secret");
        using var host = BuildHost(settings, s => s.AddRendezvousHiddenServer<EchoHandler>(o => o.Secret = _identity.Base32Secret));
        await host.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            var agent = host.Services.GetRequiredService<HiddenServerAgent>();
            await ClientTestKit.WaitUntilAsync(() => agent.Status.Parked == 1, "the hosted agent parks");
            Assert.That(agent.Status.Registrations, Is.EqualTo(1));
        }
        finally
        {
            await host.StopAsync().WaitAsync(TestTimeouts.Short);
        }
    }

    [Test]
    public async Task Further_registrars_and_pool_bounds_bind_from_configuration_and_a_registrar_that_is_down_is_skipped()
    {
        var settings = HiddenServerSettings();
        settings["Rendezvous:HiddenServer:RegistrarUrl"] = $"https://127.0.0.1:{ClientTestKit.FreePort()}/";
        settings["Rendezvous:HiddenServer:RegistrarUrls:0"] = _server.RegistrarUrl.ToString();
        settings["Rendezvous:HiddenServer:MinPoolSize"] = "1";
        settings["Rendezvous:HiddenServer:MaxPoolSize"] = "3";
        using var host = BuildHost(settings, s => s.AddRendezvousHiddenServer<EchoHandler>());
        await host.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            var agent = host.Services.GetRequiredService<HiddenServerAgent>();
            await ClientTestKit.WaitUntilAsync(() => agent.Status.Parked == 1, "the hosted agent parks through the second registrar");
            Assert.Multiple(() =>
            {
                Assert.That(agent.CurrentRegistrar, Is.EqualTo(_server.RegistrarUrl));
                Assert.That(agent.TargetPoolSize, Is.EqualTo(1), "PoolSize 1 without advice, within 1..3");
            });
        }
        finally
        {
            await host.StopAsync().WaitAsync(TestTimeouts.Short);
        }
    }

    [Test]
    public void Invalid_hidden_server_options_fail_at_start_naming_the_bad_values()
    {
        const string badSecret = "not base32 at all 1";
        var settings = HiddenServerSettings();
        settings["Rendezvous:HiddenServer:RegistrarUrl"] = "ftp://registrar.example/";
        settings["Rendezvous:HiddenServer:Uuid"] = "not-a-uuid";
        settings["Rendezvous:HiddenServer:Secret"] = badSecret;
        settings["Rendezvous:HiddenServer:PoolSize"] = "0";
        using var host = BuildHost(settings, s => s.AddRendezvousHiddenServer<EchoHandler>());

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(TestTimeouts.Long));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.OptionsType, Is.EqualTo(typeof(HiddenServerAgentOptions)));
            Assert.That(ex.Message, Does.Contain("ftp://registrar.example/"));
            Assert.That(ex.Message, Does.Contain("not-a-uuid"));
            Assert.That(ex.Message, Does.Contain("Secret"));
            Assert.That(ex.Message, Does.Contain("PoolSize is 0"));
            Assert.That(ex.Message, Does.Not.Contain(badSecret), "the secret is echoed");
        });
    }

    [Test]
    public async Task Client_resolves_a_working_connector()
    {
        var agentOptions = ClientTestKit.AgentOptions(_server, _identity);
        await using var agent = RunningAgent.Start(agentOptions);
        await agent.WaitParkedAsync();
        using var host = BuildHost(ClientSettings(), s => s.AddRendezvousClient());
        await host.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            var connector = host.Services.GetRequiredService<RendezvousConnector>();

            var echoed = await ClientTestKit.RoundTripAsync(connector, _identity.Uuid, [4, 5]);

            Assert.Multiple(() =>
            {
                Assert.That(echoed, Is.EqualTo(new byte[] { 4, 5 }));
                Assert.That(host.Services.GetRequiredService<RendezvousConnector>(), Is.SameAs(connector));
            });
        }
        finally
        {
            await host.StopAsync().WaitAsync(TestTimeouts.Short);
        }
    }

    [Test]
    public void Invalid_client_options_fail_at_start_naming_the_bad_values()
    {
        var settings = ClientSettings();
        settings["Rendezvous:Client:RegistrarUrl"] = "ftp://registrar.example/";
        settings["Rendezvous:Client:Trust:PinnedFingerprint"] = "zz:not-a-fingerprint";
        using var host = BuildHost(settings, s => s.AddRendezvousClient());

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(TestTimeouts.Long));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.OptionsType, Is.EqualTo(typeof(RendezvousConnectorOptions)));
            Assert.That(ex.Message, Does.Contain("ftp://registrar.example/"));
            Assert.That(ex.Message, Does.Contain("zz:not-a-fingerprint"));
        });
    }
}
