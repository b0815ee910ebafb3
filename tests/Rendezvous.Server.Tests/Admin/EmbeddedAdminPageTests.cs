using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Server.Admin;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Admin;

/// <summary>
/// An embedder's server with <c>AddAdminPage()</c> and a policy of its own: the page works on the policy's
/// <see cref="IRegistrationEntryStore"/> when there is one, and says clearly what it cannot do when there is none.
/// </summary>
public sealed class EmbeddedAdminPageTests
{
    private const string Token = "embedder-admin-token-0123456789";
    private const string Uuid = "2f1d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b";

    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = new TemporaryDirectory();

    [TearDown]
    public void DeleteDirectory() => _directory.Dispose();

    [Test]
    public async Task Without_an_entries_store_the_page_shows_the_relay_and_says_the_policy_provides_none()
    {
        using var host = await StartAsync(services => { });
        using var client = await SignedInClientAsync(host);

        var list = await client.GetAsync("/");
        var form = await client.GetAsync("/entries/new");
        var create = await client.PostRawAsync("/entries", [KeyValuePair.Create("uuid", Uuid), KeyValuePair.Create("csrf", list.CsrfToken)]);
        var health = await client.GetAsync("/healthz");

        Assert.Multiple(() =>
        {
            Assert.That(list.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(list.Body, Does.Contain("id=\"no-store\"").And.Contain("provides no entries store").And.Contain("IRegistrationEntryStore"));
            Assert.That(list.Body, Does.Not.Contain("id=\"new-entry\""), "no button for what cannot be done");
            Assert.That(form.Status, Is.EqualTo(HttpStatusCode.NotImplemented));
            Assert.That(form.Body, Does.Contain("provides no entries store"));
            Assert.That(create.Status, Is.EqualTo(HttpStatusCode.NotImplemented));
            Assert.That(create.Body, Does.Contain("provides no entries store"));
            Assert.That(health.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(health.Body, Does.StartWith("Healthy: relay on port").And.Not.Contain("secrets"));
        });
    }

    [Test]
    public async Task With_an_entries_store_the_page_lists_its_entries_and_writes_config_files_from_its_settings()
    {
        var created = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var store = new Mock<IRegistrationEntryStore>();
        store.Setup(s => s.ListAsync(It.IsAny<CancellationToken>()))
            .ReturnsAsync([new RegistrationEntry(Uuid, created, "hardware key 7")]);
        store.Setup(s => s.TryGetAsync(Uuid, It.IsAny<CancellationToken>()))
            .ReturnsAsync(new RegistrationEntry(Uuid, created, "hardware key 7"));
        store.Setup(s => s.TryGetClientSettingsAsync(Uuid, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => new JsonObject { ["keyId"] = "7" });
        store.Setup(s => s.CheckHealthAsync(It.IsAny<CancellationToken>())).ReturnsAsync((string?)null);
        using var host = await StartAsync(services => services.AddSingleton(store.Object));
        using var client = await SignedInClientAsync(host);

        var list = await client.GetAsync("/");
        var entry = await client.GetAsync($"/entries/{Uuid}");
        var download = await client.GetAsync($"/entries/{Uuid}/config");
        var health = await client.GetAsync("/healthz");

        var registrar = host.Services.GetRequiredService<RegistrarListenerInfo>();
        var config = JsonNode.Parse(download.Body)!.AsObject();
        Assert.Multiple(() =>
        {
            Assert.That(list.Body, Does.Contain($"data-uuid=\"{Uuid}\"").And.Contain("<td>stored</td>").And.Contain("2026-01-02 03:04:05Z"));
            Assert.That(list.Body, Does.Contain("1 in the secret store").And.Not.Contain("no-store"));
            Assert.That(entry.Body, Does.Contain("stored, hardware key 7"));
            Assert.That(entry.Body, Does.Contain("<td id=\"pool-advice\">1 (from recent demand"), "an idle hidden server is advised 1");
            Assert.That(download.Status, Is.EqualTo(HttpStatusCode.OK), download.Body);
            Assert.That(config["registrarUrl"]!.GetValue<string>(), Is.EqualTo(registrar.Url!.ToString()));
            Assert.That(config["uuid"]!.GetValue<string>(), Is.EqualTo(Uuid));
            Assert.That(config["keyId"]!.GetValue<string>(), Is.EqualTo("7"));
            Assert.That(config["registrarFingerprint"]!.GetValue<string>(), Is.EqualTo(registrar.CertificateFingerprint));
            Assert.That(health.Body, Does.Contain("secrets database readable"));
        });
    }

    [Test]
    public async Task Endpoints_of_IAdminEndpoints_answer_without_a_session_and_the_pages_still_need_one()
    {
        using var host = await StartAsync(services => services.AddSingleton<IAdminEndpoints, PingEndpoints>());
        var info = host.Services.GetRequiredService<AdminListenerInfo>();
        using var client = new AdminClient(info.Url!, host.Services.GetRequiredService<RegistrarListenerInfo>().CertificateFingerprint!);

        var ping = await client.GetAsync("/ping");
        var list = await client.GetAsync("/");

        Assert.Multiple(() =>
        {
            Assert.That(ping.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ping.Body, Is.EqualTo("pong"));
            Assert.That(list.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(list.Header("Location"), Is.EqualTo("/login"));
        });
    }

    /// <summary>Starts a generic host with the server, a Moq policy, the admin page on a free loopback port, and <paramref name="configure"/>'s services.</summary>
    private async Task<IHost> StartAsync(Action<IServiceCollection> configure)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Rendezvous:DataDirectory"] = _directory.Path,
            ["Rendezvous:RegistrarUrl"] = "https://127.0.0.1:0",
            ["Rendezvous:RendezvousEndpoint"] = "127.0.0.1:0",
            ["Rendezvous:DrainTimeout"] = "00:00:02",
        });
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(ValueTask.FromResult(RegistrationDecision.Reject()));
        builder.Services.AddRendezvousServer().AddPolicy(policy.Object).AddAdminPage(admin =>
        {
            admin.Url = "http://127.0.0.1:0";
            admin.Token = Token;
        });
        configure(builder.Services);
        var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(TestTimeouts.Long);
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return host;
    }

    private static async Task<AdminClient> SignedInClientAsync(IHost host)
    {
        var info = host.Services.GetRequiredService<AdminListenerInfo>();
        Assert.That(info.Url, Is.Not.Null, "the admin listener is bound");
        var client = new AdminClient(info.Url!, host.Services.GetRequiredService<RegistrarListenerInfo>().CertificateFingerprint!);
        var signedIn = await client.SignInAsync(Token);
        Assert.That(signedIn.Status, Is.EqualTo(HttpStatusCode.SeeOther), signedIn.Body);
        return client;
    }

    private sealed class PingEndpoints : IAdminEndpoints
    {
        public void MapEndpoints(IEndpointRouteBuilder endpoints) =>
            endpoints.MapGet("/ping", (HttpContext context) => context.Response.WriteAsync("pong"));
    }
}
