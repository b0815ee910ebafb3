namespace Rendezvous.Host.Tests.Admin;

/// <summary>How <c>rendezvous serve</c> reports an admin listener that cannot start.</summary>
public sealed class AdminStartTests
{
    [Test]
    public async Task A_busy_admin_port_stops_the_start_naming_the_url_and_the_fix_in_plain_sentences()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)busy.LocalEndpoint).Port}";

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => AdminServer.StartAsync(new Dictionary<string, string?> { ["Rendezvous:Admin:Url"] = url }));

        Assert.That(error!.Message, Does.StartWith($"Cannot listen for the admin page on {url}: ").And.Contain("--admin-url").And.Not.Contain(".."));
    }
}
