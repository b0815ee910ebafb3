using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Client.Connector;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Connector;

/// <summary>
/// The connector against a real registrar and relay. The hidden server is a raw parked connection,
/// so what the connector does is seen byte for byte.
/// </summary>
public sealed class RendezvousConnectorTests
{
    private RendezvousTestServer _server = null!;
    private RendezvousConnector _connector = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        _server = await RendezvousTestServer.StartAsync(
            b => b.AddPolicy(ClientTestKit.AcceptingPolicy().Object),
            new Dictionary<string, string?> { ["Rendezvous:Relay:InitiatorGracePeriod"] = "00:00:00.300" });
        _connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
    }

    [TearDown]
    public async Task StopServerAsync()
    {
        _connector.Dispose();
        await _server.DisposeAsync();
    }

    private Task<(string Uuid, string Line)> RegisterAsync() => ClientTestKit.RegisterAsync(_server);

    private async Task<(string Uuid, LoopbackClient Parked)> ParkAsync()
    {
        var (uuid, line) = await RegisterAsync();
        var parked = await LoopbackClient.ConnectWithLineAsync(_server.RelayEndPoint, line);
        await ClientTestKit.WaitUntilAsync(() => _server.Broker.ParkedCount == 1, "the responder is parked");
        return (uuid, parked);
    }

    [Test]
    public void Unknown_uuid_is_NotRegistered()
    {
        var ex = Assert.ThrowsAsync<RendezvousException>(() => _connector.ConnectAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.NotRegistered));
            Assert.That(ex.Permanent, Is.False);
        });
    }

    [Test]
    public async Task Registered_uuid_with_nothing_parked_is_NotReady()
    {
        var (uuid, _) = await RegisterAsync();

        var ex = Assert.ThrowsAsync<RendezvousException>(() => _connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.NotReady));
            Assert.That(ex.Permanent, Is.False);
        });
    }

    [Test]
    public async Task Connect_pairs_with_the_parked_hidden_server()
    {
        var (uuid, parked) = await ParkAsync();
        using var _ = parked;

        await using var session = await _connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short);

        Assert.Multiple(async () =>
        {
            Assert.That(await parked.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(session.Info.Uuid, Is.EqualTo(uuid));
            Assert.That(session.Info.Role, Is.EqualTo(Rendezvous.Client.Sessions.RendezvousRole.MobileClient));
            Assert.That(session.PeerCertificate, Is.Null);
        });
    }

    [Test]
    public async Task Bytes_the_hidden_server_sent_before_pairing_are_the_first_the_client_reads()
    {
        var (uuid, parked) = await ParkAsync();
        using var _ = parked;
        var banner = Encoding.ASCII.GetBytes("HELLO from the hidden server\r\n");
        await parked.SendAsync(banner);

        await using var session = await _connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short);

        Assert.That(await ClientTestKit.ReadExactlyAsync(session.Stream, banner.Length), Is.EqualTo(banner));
    }

    [Test]
    public async Task Bytes_the_hidden_server_sends_right_after_pairing_are_not_lost_to_the_handshake()
    {
        var (uuid, parked) = await ParkAsync();
        using var _ = parked;
        var connecting = _connector.ConnectAsync(uuid);
        Assert.That(await parked.ReadLineAsync(), Is.EqualTo("+OK"));
        var greeting = ClientTestKit.Binary(300);
        await parked.SendAsync(greeting);

        await using var session = await connecting.WaitAsync(TestTimeouts.Short);

        Assert.That(await ClientTestKit.ReadExactlyAsync(session.Stream, greeting.Length), Is.EqualTo(greeting));
    }

    [Test]
    public async Task Binary_data_flows_both_ways_unchanged()
    {
        var (uuid, parked) = await ParkAsync();
        using var _ = parked;
        await using var session = await _connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short);
        Assert.That(await parked.ReadLineAsync(), Is.EqualTo("+OK"));
        var up = ClientTestKit.Binary(256 * 1024);
        var down = ClientTestKit.Binary(256 * 1024);

        var received = parked.ReadExactlyAsync(up.Length);
        var sent = parked.SendAsync(down);
        var writing = session.Stream.WriteAsync(up).AsTask();
        var reading = ClientTestKit.ReadExactlyAsync(session.Stream, down.Length);
        await Task.WhenAll(writing, sent).WaitAsync(TestTimeouts.Long);

        Assert.Multiple(async () =>
        {
            Assert.That(await received, Is.EqualTo(up), "client to hidden server");
            Assert.That(await reading, Is.EqualTo(down), "hidden server to client");
        });
    }

    [Test]
    public async Task Half_close_through_the_session_ends_the_hidden_servers_input_and_the_reply_still_flows()
    {
        var (uuid, parked) = await ParkAsync();
        using var _ = parked;
        await using var session = await _connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short);
        Assert.That(await parked.ReadLineAsync(), Is.EqualTo("+OK"));
        var request = Encoding.ASCII.GetBytes("request body");

        await session.Stream.WriteAsync(request);
        await session.CompleteSendingAsync().AsTask().WaitAsync(TestTimeouts.Short);
        var seen = await parked.ReadToEndAsync();
        var reply = Encoding.ASCII.GetBytes($"got {seen.Length} bytes");
        await parked.SendAsync(reply);
        parked.ShutdownSend();

        Assert.Multiple(async () =>
        {
            Assert.That(seen, Is.EqualTo(request));
            Assert.That(await ClientTestKit.ReadToEndAsync(session.Stream), Is.EqualTo(reply));
        });
    }

    [Test]
    public async Task Half_close_from_the_hidden_server_ends_the_sessions_input_while_the_client_can_still_send()
    {
        var (uuid, parked) = await ParkAsync();
        using var _ = parked;
        await using var session = await _connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Short);
        Assert.That(await parked.ReadLineAsync(), Is.EqualTo("+OK"));

        parked.ShutdownSend();
        var read = await session.Stream.ReadAsync(new byte[16]).AsTask().WaitAsync(TestTimeouts.Short);
        await session.Stream.WriteAsync(Encoding.ASCII.GetBytes("still here"));

        Assert.Multiple(async () =>
        {
            Assert.That(read, Is.Zero);
            Assert.That(await parked.ReadExactlyAsync(10), Is.EqualTo(Encoding.ASCII.GetBytes("still here")));
        });
    }
}
