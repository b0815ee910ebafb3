using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Moq;
using OtpNet;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Protocol.Transport;
using Rendezvous.Security;
using Rendezvous.Server.Certificates;
using Rendezvous.Server.Internal;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests;

/// <summary>The ways an application embeds a Rendezvous server: a generic host, an ASP.NET Core app, a custom policy.</summary>
public sealed class EmbeddingTests
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = new TemporaryDirectory();

    [TearDown]
    public void DeleteDirectory() => _directory.Dispose();

    /// <summary>A generic host builder with the server's listeners on free loopback ports and the data in the temporary directory.</summary>
    private HostApplicationBuilder GenericHostBuilder()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Rendezvous:DataDirectory"] = _directory.Path,
            ["Rendezvous:RegistrarUrl"] = "https://127.0.0.1:0",
            ["Rendezvous:RendezvousEndpoint"] = "127.0.0.1:0",
        });
        return builder;
    }

    [Test]
    public async Task A_plain_generic_host_gets_the_registrar_and_the_relay_from_AddRendezvousServer()
    {
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns((RegistrationRequest request, CancellationToken _) => ValueTask.FromResult(
                request.Response == "123456" ? RegistrationDecision.Accept() : RegistrationDecision.Reject()));

        var builder = GenericHostBuilder();
        builder.Services.AddRendezvousServer().AddPolicy(policy.Object);
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            var info = host.Services.GetRequiredService<RegistrarListenerInfo>();
            Assert.That(info.Url, Is.Not.Null);
            Assert.That(info.Url!.Scheme, Is.EqualTo("https"));
            using var registrar = RegistrarClient.CreatePinned(info.Url, info.CertificateFingerprint!);
            var relay = new IPEndPoint(IPAddress.Loopback, host.Services.GetRequiredService<RendezvousEndpoint>().Port);

            var uuid = Guid.NewGuid().ToString();
            Assert.That((await registrar.RegisterAsync(uuid, "000000")).Body, Does.Contain("invalid request"));
            var registered = (await registrar.RegisterAsync(uuid, "123456")).Triple;
            var lookedUp = (await registrar.LookUpAsync(uuid)).Triple;

            Assert.That(registered.Port, Is.EqualTo(relay.Port));
            await RelayRoundTrip.AssertPairsAndSplicesAsync(relay, registered.Cookie, lookedUp.Cookie);
        }
        finally
        {
            await host.StopAsync().WaitAsync(TestTimeouts.Long);
        }
    }

    [Test]
    public async Task An_embedder_registered_relay_transport_replaces_the_sockets_in_one_line_and_is_counted_through_its_close_hook()
    {
        var transport = new InMemoryRelayTransport();
        var builder = GenericHostBuilder();
        builder.Services.AddRendezvousServer().AddPolicy(new Mock<IRegistrationPolicy>().Object);
        builder.Services.AddSingleton<IRelayListenerFactory>(transport);
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            var listener = host.Services.GetServices<IHostedService>().OfType<RelayListenerService>().Single();
            var cookie = host.Services.GetRequiredService<RendezvousBroker>().Register(Guid.NewGuid().ToString());
            var responder = await transport.ConnectAsync();
            await responder.SendAsync("R" + cookie + "\n");
            var initiator = await transport.ConnectAsync();
            await initiator.SendAsync("I" + RendezvousCookies.InitiatorValueFor(cookie) + "\n");

            Assert.That(await initiator.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
            Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("+OK\n"));
            Assert.That(listener.OpenConnections, Is.EqualTo(2));
            await initiator.SendAsync("ping");
            Assert.That(await responder.ReadAsciiAsync(4), Is.EqualTo("ping"));
            initiator.CompleteSending();
            responder.CompleteSending();
            Assert.That(await responder.ReadToEndAsciiAsync(), Is.Empty);
            Assert.That(await initiator.ReadToEndAsciiAsync(), Is.Empty);

            Assert.That(() => listener.OpenConnections, Is.Zero.After((int)TestTimeouts.Short.TotalMilliseconds, 10));
            Assert.That(transport.BindCount, Is.EqualTo(1));
            Assert.That(transport.BoundTo, Is.EqualTo(new IPEndPoint(IPAddress.Loopback, 0)));
        }
        finally
        {
            await host.StopAsync().WaitAsync(TestTimeouts.Long);
        }
    }

    [Test]
    public async Task A_transport_whose_accept_breaks_is_logged_as_critical_at_once_and_the_server_still_stops()
    {
        var transport = new InMemoryRelayTransport();
        using var logs = new LogCapture();
        var builder = GenericHostBuilder();
        builder.Logging.AddProvider(logs);
        builder.Services.AddRendezvousServer().AddPolicy(new Mock<IRegistrationPolicy>().Object);
        builder.Services.AddSingleton<IRelayListenerFactory>(transport);
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TestTimeouts.Long);

        await transport.FailAcceptsAsync(new InvalidOperationException("the transport is broken"), 1);
        await transport.ConnectAsync();

        Assert.That(
            () => logs.Records.Any(r => r.EventId.Id == 3024 && r.Level == LogLevel.Critical && r.Exception?.Message == "the transport is broken"),
            Is.True.After((int)TestTimeouts.Short.TotalMilliseconds, 10));
        Assert.That(async () => await host.StopAsync().WaitAsync(TestTimeouts.Long), Throws.Nothing);
    }

    [Test]
    public async Task An_aspnetcore_app_maps_the_registrar_on_its_own_kestrel_with_totp_security()
    {
        using var certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["127.0.0.1"], TimeSpan.FromDays(1));
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Rendezvous:DataDirectory"] = _directory.Path,
            ["Rendezvous:RendezvousEndpoint"] = "127.0.0.1:0",
        });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        builder.Services.AddRendezvousServer(o => o.RegistrarUrl = string.Empty).AddTotpSecurity();
        await using var app = builder.Build();
        app.MapRendezvousRegistrar();
        await app.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            // The built-in registrar listener stays off; the app's own Kestrel serves the registrar.
            Assert.That(app.Services.GetRequiredService<RegistrarListenerInfo>().Url, Is.Null);
            var url = new Uri(app.Urls.Single());
            using var registrar = RegistrarClient.CreatePinned(url, RegistrarCertificates.GetSha256Fingerprint(certificate));
            var relay = new IPEndPoint(IPAddress.Loopback, app.Services.GetRequiredService<RendezvousEndpoint>().Port);

            var entry = new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, DateTimeOffset.UtcNow);
            await SqliteSecretStore.ForDataDirectory(_directory.Path).AddAsync(entry).WaitAsync(TestTimeouts.Short);
            var code = new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, entry.Digits).ComputeTotp(DateTime.UtcNow);

            Assert.That((await registrar.RegisterAsync(entry.Uuid, code == "000000" ? "000001" : "000000")).Body, Does.Contain("invalid request"));
            var registered = (await registrar.RegisterAsync(entry.Uuid, code)).Triple;
            var lookedUp = (await registrar.LookUpAsync(entry.Uuid)).Triple;
            Assert.That(registered.Port, Is.EqualTo(relay.Port));
            Assert.That(lookedUp.Cookie, Is.EqualTo(registered.InitiatorCookie));

            await RelayRoundTrip.AssertPairsAndSplicesAsync(relay, registered.Cookie, lookedUp.Cookie);
        }
        finally
        {
            await app.StopAsync().WaitAsync(TestTimeouts.Long);
        }
    }

    [Test]
    public void A_server_without_a_policy_fails_at_start_naming_AddTotpSecurity_and_AddPolicy()
    {
        var builder = GenericHostBuilder();
        builder.Services.AddRendezvousServer();
        using var host = builder.Build();

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(TestTimeouts.Long));

        Assert.That(ex!.Message, Does.Contain("No registration policy is registered").And.Contain(".AddTotpSecurity()").And.Contain(".AddPolicy<TPolicy>()"));
    }

    [Test]
    public async Task One_AddPolicy_line_replaces_the_totp_policy()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity().AddPolicy<FixedCodePolicy>());
        using var registrar = server.CreateRegistrarClient();
        var uuid = Guid.NewGuid().ToString();

        var refused = await registrar.RegisterAsync(uuid, "123456");
        var accepted = await registrar.RegisterAsync(uuid, FixedCodePolicy.Code);

        Assert.Multiple(() =>
        {
            Assert.That(server.Services.GetRequiredService<IRegistrationPolicy>(), Is.InstanceOf<FixedCodePolicy>());
            Assert.That(refused.Body, Does.Contain("invalid request"));
            Assert.That(accepted.Triple.Cookie, Does.StartWith("R"));
        });
    }

    /// <summary>A policy an embedder might write: one code, any UUID (not a TOTP secret in sight).</summary>
    private sealed class FixedCodePolicy : IRegistrationPolicy
    {
        public const string Code = "424242";

        public ValueTask<RegistrationDecision> AuthorizeAsync(RegistrationRequest request, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(request.Response == Code ? RegistrationDecision.Accept() : RegistrationDecision.Reject());
    }
}
