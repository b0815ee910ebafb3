using System.Net;
using System.Net.Sockets;
using Rendezvous.Protocol.Transport;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Transport;

/// <summary><see cref="SocketRelayListener"/> on real loopback sockets: the port is never shared, and accepted sockets get keep-alive.</summary>
public sealed class SocketRelayListenerTests
{
    [Test]
    public async Task A_second_listener_on_a_port_in_use_fails_to_bind()
    {
        await using var first = SocketRelayListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        var refused = Assert.Throws<SocketException>(() => SocketRelayListener.Bind(first.LocalEndPoint));

        Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.AddressAlreadyInUse));
    }

    [Test]
    public async Task A_listener_on_any_address_fails_to_bind_a_port_a_loopback_listener_holds()
    {
        await using var first = SocketRelayListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        var refused = Assert.Throws<SocketException>(() => SocketRelayListener.Bind(new IPEndPoint(IPAddress.Any, first.LocalEndPoint.Port)));

        Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.AddressAlreadyInUse));
    }

    [Test]
    public async Task A_closed_listener_port_binds_again_while_its_connections_linger_in_time_wait()
    {
        var first = SocketRelayListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = first.LocalEndPoint.Port;
        using (var client = await LoopbackClient.ConnectAsync(first.LocalEndPoint))
        {
            // The server side closes first, so its end of the connection (on the listener's port) enters TIME_WAIT.
            var accepted = (SocketRelayConnection)(await first.AcceptAsync().AsTask().WaitAsync(TestTimeouts.Short))!;
            await accepted.DisposeAsync();
            Assert.That(await client.ReadToEndAsync(), Is.Empty);
        }

        await first.DisposeAsync();

        await using var again = SocketRelayListener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        Assert.That(again.LocalEndPoint.Port, Is.EqualTo(port));
    }

    [Test]
    public async Task Accepted_connections_have_keep_alive_with_the_default_time_interval_and_count()
    {
        await using var listener = SocketRelayListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));

        await using var accepted = await AcceptOneAsync(listener);

        AssertKeepAlive(accepted.Socket, timeSeconds: 60, intervalSeconds: 10, count: 6);
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
        await using var listener = SocketRelayListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), options);

        await using var accepted = await AcceptOneAsync(listener);

        AssertKeepAlive(accepted.Socket, timeSeconds: 45, intervalSeconds: 7, count: 3);
    }

    [Test]
    public async Task Keep_alive_off_leaves_accepted_connections_without_it()
    {
        await using var listener = SocketRelayListener.Bind(new IPEndPoint(IPAddress.Loopback, 0), new SocketTransportOptions { KeepAlive = false });

        await using var accepted = await AcceptOneAsync(listener);

        Assert.That(accepted.Socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive), Is.EqualTo(0));
    }

    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(32_768)]
    public void A_keep_alive_time_or_interval_out_of_range_is_refused_naming_the_range(int seconds)
    {
        var options = new SocketTransportOptions();

        Assert.Multiple(() =>
        {
            Assert.That(() => options.KeepAliveTime = TimeSpan.FromSeconds(seconds), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("00:00:01").And.Message.Contain("09:06:07"));
            Assert.That(() => options.KeepAliveInterval = TimeSpan.FromSeconds(seconds), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("00:00:01"));
        });
    }

    [Test]
    public void Keep_alive_times_in_fractions_of_a_second_and_counts_out_of_range_are_refused()
    {
        var options = new SocketTransportOptions();

        Assert.Multiple(() =>
        {
            Assert.That(() => options.KeepAliveTime = TimeSpan.FromMilliseconds(1500), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("whole seconds"));
            Assert.That(() => options.KeepAliveRetryCount = 0, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("1 to 127"));
            Assert.That(() => options.KeepAliveRetryCount = 128, Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contain("1 to 127"));
        });
    }

    private static void AssertKeepAlive(Socket socket, int timeSeconds, int intervalSeconds, int count) => Assert.Multiple(() =>
    {
        Assert.That(socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive), Is.Not.EqualTo(0));
        Assert.That(socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime), Is.EqualTo(timeSeconds));
        Assert.That(socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval), Is.EqualTo(intervalSeconds));
        Assert.That(socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount), Is.EqualTo(count));
    });

    private static async Task<SocketRelayConnection> AcceptOneAsync(SocketRelayListener listener)
    {
        using var client = await LoopbackClient.ConnectAsync(listener.LocalEndPoint);
        return (SocketRelayConnection)(await listener.AcceptAsync().AsTask().WaitAsync(TestTimeouts.Short))!;
    }
}
