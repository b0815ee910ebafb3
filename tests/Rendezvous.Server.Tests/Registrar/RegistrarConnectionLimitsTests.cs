using System.Net;
using System.Net.Sockets;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>
/// Rendezvous:RegistrarMaxConnectionsPerAddress and RegistrarMaxConnections: idle connections (no TLS ClientHello) beyond a
/// cap are closed at once, so one address cannot hold every descriptor of the process.
/// </summary>
public sealed class RegistrarConnectionLimitsTests : ServerTestBase
{
    private IPEndPoint RegistrarEndPoint => new(IPAddress.Loopback, Server.RegistrarUrl.Port);

    [Test]
    public async Task Idle_connections_beyond_the_per_address_cap_are_closed_at_once_and_a_freed_place_is_reused()
    {
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:RegistrarMaxConnectionsPerAddress"] = "2" });
        using var first = await LoopbackClient.ConnectAsync(RegistrarEndPoint);
        using var second = await LoopbackClient.ConnectAsync(RegistrarEndPoint);
        Assert.That(await second.StaysQuietAsync(), Is.True, "the second connection is under the cap");

        Assert.That(await ConnectAndWaitForEndAsync(), Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed), "the third is closed at once");
        Assert.That(await first.StaysQuietAsync(), Is.True, "the connections under the cap are untouched");

        // Kestrel notices the close on its next read: try until a new connection is held (bounded by the timeout).
        first.Dispose();
        using var timeout = new CancellationTokenSource(TestTimeouts.Short);
        while (!await ConnectAndWaitForQuietAsync())
        {
            timeout.Token.ThrowIfCancellationRequested();
        }
    }

    [Test]
    public async Task Connections_beyond_the_total_cap_are_closed_at_once()
    {
        await RestartServerAsync(new Dictionary<string, string?>
        {
            ["Rendezvous:RegistrarMaxConnections"] = "2",
            ["Rendezvous:RegistrarMaxConnectionsPerAddress"] = "2",
        });
        using var first = await LoopbackClient.ConnectAsync(RegistrarEndPoint);
        using var second = await LoopbackClient.ConnectAsync(RegistrarEndPoint);
        Assert.That(await second.StaysQuietAsync(), Is.True);

        Assert.That(await ConnectAndWaitForEndAsync(), Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed));
    }

    [Test]
    public async Task A_registration_succeeds_while_another_address_holds_its_whole_per_address_cap()
    {
        // 127.0.0.2 is another address of the loopback interface (any 127.x source reaches 127.0.0.1), with a cap of its own.
        await RestartServerAsync(new Dictionary<string, string?> { ["Rendezvous:RegistrarMaxConnectionsPerAddress"] = "2" });
        var flood = new List<LoopbackClient>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                flood.Add(await LoopbackClient.ConnectAsync(RegistrarEndPoint, IPAddress.Parse("127.0.0.2")));
            }

            // Held, not closed: by then the server has counted both (a third sent at once could beat the count).
            Assert.That(await flood[1].StaysQuietAsync(), Is.True, "127.0.0.2's connections under the cap are held");
            Assert.That(await ConnectAndWaitForEndAsync(IPAddress.Parse("127.0.0.2")), Is.AnyOf(PeerEnd.Reset, PeerEnd.Closed), "127.0.0.2 is at its cap");
            Assert.That(await RegisterAsync(Guid.NewGuid().ToString()), Is.Not.Empty, "127.0.0.1 is not");
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
        }
    }

    private async Task<PeerEnd> ConnectAndWaitForEndAsync(IPAddress? from = null)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(from ?? IPAddress.Loopback, 0));
            await socket.ConnectAsync(RegistrarEndPoint).WaitAsync(TestTimeouts.Short);
            using var timeout = new CancellationTokenSource(TestTimeouts.Short);
            while (await socket.ReceiveAsync(new byte[256], SocketFlags.None, timeout.Token) > 0)
            {
            }

            return PeerEnd.Closed;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
        {
            return PeerEnd.Reset;
        }
    }

    private async Task<bool> ConnectAndWaitForQuietAsync()
    {
        try
        {
            using var client = await LoopbackClient.ConnectAsync(RegistrarEndPoint);
            return await client.StaysQuietAsync();
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
