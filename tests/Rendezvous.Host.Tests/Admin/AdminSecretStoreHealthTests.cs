using System.Net;
using Rendezvous.Security;

namespace Rendezvous.Host.Tests.Admin;

/// <summary><c>/healthz</c> follows the secrets database: unhealthy while it is gone or damaged, healthy once it is back.</summary>
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
}
