using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests;

/// <summary>A port in use fails the start of an embedded server, and leaves none of its ports bound; once per relay transport.</summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class ListenerStartTests(RelayTransport transport)
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void CreateDirectory()
    {
        RelayTransports.AssumeSupported(transport);
        _directory = new TemporaryDirectory();
    }

    [TearDown]
    public void DeleteDirectory() => _directory?.Dispose();

    private IHost BuildHost(string registrarUrl, string relayEndpoint)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(RelayTransports.Settings(transport, new Dictionary<string, string?>
        {
            ["Rendezvous:DataDirectory"] = _directory.Path,
            ["Rendezvous:RegistrarUrl"] = registrarUrl,
            ["Rendezvous:RendezvousEndpoint"] = relayEndpoint,
        }));
        builder.Services.AddRendezvousServer().AddPolicy(Mock.Of<IRegistrationPolicy>());
        return builder.Build();
    }

    /// <summary>A port that was free a moment ago (bound to port 0, then released).</summary>
    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    [Test]
    public async Task A_relay_port_another_relay_listens_on_fails_the_start_naming_the_setting()
    {
        await using var other = await RelayTransports.BindAsync(transport);
        var port = ((IPEndPoint)other.LocalEndPoint).Port;
        using var host = BuildHost("https://127.0.0.1:0", $"127.0.0.1:{port}");

        var failure = Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().WaitAsync(TestTimeouts.Long));

        Assert.That(failure!.Message, Does.Contain($"Cannot listen for rendezvous connections on 127.0.0.1:{port}").And.Contain("Rendezvous:RendezvousEndpoint"));
        Assert.That(host.Services.GetRequiredService<RegistrarListenerInfo>().Url, Is.Null, "the registrar did not start");
    }

    [Test]
    public async Task A_registrar_port_in_use_fails_the_start_and_closes_the_relay_listener_opened_before_it()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var registrarPort = ((IPEndPoint)holder.LocalEndPoint!).Port;
        var relayPort = FreePort();
        using var host = BuildHost($"https://127.0.0.1:{registrarPort}", $"127.0.0.1:{relayPort}");

        var failure = Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().WaitAsync(TestTimeouts.Long));
        Assert.That(failure!.Message, Does.Contain($"Cannot listen for registrar requests on https://127.0.0.1:{registrarPort}"));

        // The host is not disposed yet (an application may go on without it): the relay's port is free all the same.
        await using var again = await RelayTransports.BindAsync(transport, endPoint: new IPEndPoint(IPAddress.Loopback, relayPort));
        Assert.That(((IPEndPoint)again.LocalEndPoint).Port, Is.EqualTo(relayPort));
    }
}
