using System.Net;
using System.Net.Sockets;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary>
/// The listener of each transport on real loopback sockets, once per transport: the port is never shared, and
/// accepted connections get keep-alive.
/// </summary>
[TestFixtureSource(typeof(RelayTransports), nameof(RelayTransports.All))]
public sealed class RelayListenerTests(RelayTransport transport)
{
    [SetUp]
    public void SetUp() => RelayTransports.AssumeSupported(transport);

    [Test]
    public async Task A_second_listener_on_a_port_in_use_fails_to_bind()
    {
        await using var first = await RelayTransports.BindAsync(transport);

        var refused = Assert.ThrowsAsync<SocketException>(() => RelayTransports.BindAsync(transport, endPoint: (IPEndPoint)first.LocalEndPoint));

        Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.AddressAlreadyInUse));
    }

    [Test]
    public async Task A_listener_on_any_address_fails_to_bind_a_port_a_loopback_listener_holds()
    {
        await using var first = await RelayTransports.BindAsync(transport);

        var refused = Assert.ThrowsAsync<SocketException>(() => RelayTransports.BindAsync(transport, endPoint: new IPEndPoint(IPAddress.Any, ((IPEndPoint)first.LocalEndPoint).Port)));

        Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.AddressAlreadyInUse));
    }

    [Test]
    public async Task A_closed_listener_port_binds_again_while_its_connections_linger_in_time_wait()
    {
        var first = await RelayTransports.BindAsync(transport);
        var port = ((IPEndPoint)first.LocalEndPoint).Port;
        var (client, accepted) = await RelayTransports.AcceptAsync(first);
        using (client)
        {
            // The server side closes first, so its end of the connection (on the listener's port) enters TIME_WAIT.
            await accepted.DisposeAsync().AsTask().WaitAsync(TestTimeouts.Short);
            Assert.That(await client.ReadToEndAsync(), Is.Empty);
        }

        await first.DisposeAsync();

        await using var again = await RelayTransports.BindAsync(transport, endPoint: new IPEndPoint(IPAddress.Loopback, port));
        Assert.That(((IPEndPoint)again.LocalEndPoint).Port, Is.EqualTo(port));
    }

    [Test]
    public async Task Accepted_connections_have_keep_alive_with_the_default_time_interval_and_count()
    {
        await using var listener = await RelayTransports.BindAsync(transport);

        await using var accepted = await AcceptOneAsync(listener);

        AssertKeepAlive(accepted, timeSeconds: 60, intervalSeconds: 10, count: 6);
    }

    [Test]
    public async Task Accepted_connections_have_the_configured_keep_alive()
    {
        var options = new SocketTransportOptions
        {
            KeepAliveTime = TimeSpan.FromSeconds(45),
            KeepAliveInterval = TimeSpan.FromSeconds(7),
            KeepAliveRetryCount = 3,
        };
        await using var listener = await RelayTransports.BindAsync(transport, options);

        await using var accepted = await AcceptOneAsync(listener);

        AssertKeepAlive(accepted, timeSeconds: 45, intervalSeconds: 7, count: 3);
    }

    [Test]
    public async Task Keep_alive_off_leaves_accepted_connections_without_it()
    {
        await using var listener = await RelayTransports.BindAsync(transport, new SocketTransportOptions { KeepAlive = false });

        await using var accepted = await AcceptOneAsync(listener);

        Assert.That(RelayTransports.GetOption(accepted, SocketOptionLevel.Socket, SocketOptionName.KeepAlive), Is.EqualTo(0));
    }

    [Test]
    public async Task Accepted_connections_have_nagle_off()
    {
        await using var listener = await RelayTransports.BindAsync(transport);

        await using var accepted = await AcceptOneAsync(listener);

        Assert.That(RelayTransports.GetOption(accepted, SocketOptionLevel.Tcp, SocketOptionName.NoDelay), Is.Not.EqualTo(0));
    }

    private static void AssertKeepAlive(RelayConnection connection, int timeSeconds, int intervalSeconds, int count) => Assert.Multiple(() =>
    {
        Assert.That(RelayTransports.GetOption(connection, SocketOptionLevel.Socket, SocketOptionName.KeepAlive), Is.Not.EqualTo(0));
        Assert.That(RelayTransports.GetOption(connection, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime), Is.EqualTo(timeSeconds));
        Assert.That(RelayTransports.GetOption(connection, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval), Is.EqualTo(intervalSeconds));
        Assert.That(RelayTransports.GetOption(connection, SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount), Is.EqualTo(count));
    });

    private static async Task<RelayConnection> AcceptOneAsync(IRelayListener listener)
    {
        var (client, accepted) = await RelayTransports.AcceptAsync(listener);
        client.Dispose();
        return accepted;
    }
}
