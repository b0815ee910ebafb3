using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary>
/// <c>/healthz</c> and the admin pages follow the secrets database: unhealthy (503, naming the reason) while it is gone
/// or damaged, healthy once it is back.
/// </summary>
public sealed class AdminSecretStoreHealthTests
{
    private static readonly string[] Suffixes = [string.Empty, "-wal", "-shm"];

    [Test]
    public async Task Healthz_is_unhealthy_while_the_database_is_removed_and_healthy_once_it_is_put_back()
    {
        await using var server = await AdminServer.StartAsync();
        using var client = server.CreateClient();
        var entry = await server.AddEntryAsync();
        var (responder, _) = await server.RegisterAsync(entry);
        Assert.That(responder, Does.StartWith("R"));
        var healthy = await client.GetAsync("/healthz");
        Assert.Multiple(() =>
        {
            Assert.That(healthy.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(healthy.Body, Does.StartWith("Healthy: relay on port").And.Contain("secrets database readable"));
        });

        var path = Path.Combine(server.DataDirectory, SqliteSecretStore.DefaultFileName);
        foreach (var suffix in Suffixes)
        {
            File.Move(path + suffix, path + suffix + ".away");
        }

        for (var i = 0; i < 3; i++)
        {
            var failing = await client.GetAsync("/healthz");
            Assert.Multiple(() =>
            {
                Assert.That(failing.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
                Assert.That(failing.Body, Does.StartWith("Unhealthy: ").And.Contain("the secrets database is failing").And.Contain("was removed while in use"));
            });
        }

        Assert.That(File.Exists(path), Is.False, "the health check does not make a new empty database");
        foreach (var suffix in Suffixes)
        {
            File.Move(path + suffix + ".away", path + suffix);
        }

        var again = await client.GetAsync("/healthz");
        Assert.Multiple(() =>
        {
            Assert.That(again.Status, Is.EqualTo(HttpStatusCode.OK), again.Body);
            Assert.That(again.Body, Does.Contain("secrets database readable"));
        });
    }

    [Test]
    public async Task Admin_pages_answer_503_naming_the_reason_while_the_database_is_removed_without_a_stack_trace_per_view()
    {
        await using var server = await AdminServer.StartAsync();
        var capture = new LogCapture();
        server.Services.GetRequiredService<ILoggerFactory>().AddProvider(capture);
        using var client = server.CreateClient();
        Assert.That((await client.SignInAsync(server.Token)).Status, Is.EqualTo(HttpStatusCode.SeeOther));
        var entry = await server.AddEntryAsync();
        Assert.That((await client.GetAsync("/")).Status, Is.EqualTo(HttpStatusCode.OK));

        var path = Path.Combine(server.DataDirectory, SqliteSecretStore.DefaultFileName);
        foreach (var suffix in Suffixes)
        {
            File.Move(path + suffix, path + suffix + ".away");
        }

        foreach (var page in new[] { "/", "/", $"/entries/{entry.Uuid}" })
        {
            var failing = await client.GetAsync(page);
            Assert.Multiple(() =>
            {
                Assert.That(failing.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), page);
                Assert.That(failing.Body, Does.Contain("Secrets database unavailable").And.Contain("was removed while in use"), page);
            });
        }

        foreach (var suffix in Suffixes)
        {
            File.Move(path + suffix + ".away", path + suffix);
        }

        var again = await client.GetAsync("/");
        Assert.Multiple(() =>
        {
            Assert.That(again.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(again.Body, Does.Contain(entry.Uuid));
            Assert.That(capture.Records.Where(r => r.Exception is not null).Select(r => r.Message), Is.Empty, "no stack trace per view");
            Assert.That(capture.Records.Count(r => r.EventId.Name == "SecretStoreFailing"), Is.EqualTo(1), "the store logs its failure once");
        });
    }
}
