using System.Net;
using System.Net.Sockets;
using Rendezvous.Client.Connector;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Connector;

/// <summary>Connecting to a local service with a deadline, as a hidden server does for each session (<c>expose --to</c>).</summary>
public sealed class TcpConnectorTests
{
    [TestCase("127.0.0.1")]
    [TestCase("localhost")]
    public async Task Connects_to_an_address_or_a_name_with_Nagle_off(string host)
    {
        await using var service = LocalTcpService.Echo();

        using var socket = await TcpConnector.ConnectAsync(new DnsEndPoint(host, service.Port), TestTimeouts.Short).WaitAsync(TestTimeouts.Long);

        Assert.Multiple(() =>
        {
            Assert.That(socket.Connected, Is.True);
            Assert.That(socket.NoDelay, Is.True);
            Assert.That(((IPEndPoint)socket.RemoteEndPoint!).Port, Is.EqualTo(service.Port));
        });
    }

    [Test]
    public void A_closed_port_is_a_SocketException()
    {
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        var ex = Assert.ThrowsAsync<SocketException>(() => TcpConnector.ConnectAsync(new DnsEndPoint("127.0.0.1", port), TestTimeouts.Short).WaitAsync(TestTimeouts.Long));

        Assert.That(ex!.SocketErrorCode, Is.EqualTo(SocketError.ConnectionRefused));
    }

    [Test]
    public void Cancellation_is_not_reported_as_a_timeout()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.CatchAsync<OperationCanceledException>(() => TcpConnector.ConnectAsync(new DnsEndPoint("127.0.0.1", 9), TestTimeouts.Short, cancelled.Token).WaitAsync(TestTimeouts.Long));
    }

    [Test]
    public async Task A_connection_the_listener_never_takes_times_out_naming_the_target_and_the_timeout()
    {
        // A listener whose backlog is full and that never accepts: Linux drops further SYNs, so connect hangs.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var target = new DnsEndPoint("127.0.0.1", ((IPEndPoint)listener.LocalEndPoint!).Port);
        var fillers = new List<Socket>();
        try
        {
            TimeoutException? timeout = null;
            for (var i = 0; i < 8 && timeout is null; i++)
            {
                try
                {
                    fillers.Add(await TcpConnector.ConnectAsync(target, TimeSpan.FromMilliseconds(500)).WaitAsync(TestTimeouts.Long));
                }
                catch (TimeoutException ex)
                {
                    timeout = ex;
                }
            }

            Assert.That(timeout, Is.Not.Null, "a connection beyond the backlog timed out");
            Assert.That(timeout!.Message, Is.EqualTo($"connecting to {target.Host}:{target.Port} took longer than 0.5 s"));
        }
        finally
        {
            fillers.ForEach(s => s.Dispose());
        }
    }

    [Test]
    public void A_timeout_that_is_not_positive_is_refused()
    {
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => TcpConnector.ConnectAsync(new DnsEndPoint("127.0.0.1", 9), TimeSpan.Zero));
    }
}
