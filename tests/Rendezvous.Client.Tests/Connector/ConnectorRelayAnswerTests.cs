using System.Net;
using System.Net.Sockets;
using System.Text;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Registrar;
using Rendezvous.Client.Tests.Registrar;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Connector;

/// <summary>
/// How the connector reads the relay's answer, against a scripted relay (a loopback listener) that a
/// stub registrar points at: silence, a close, refusals, and a host name instead of an address.
/// </summary>
public sealed class ConnectorRelayAnswerTests
{
    private TcpListener _relay = null!;
    private StubRegistrar _registrar = null!;

    private int RelayPort => ((IPEndPoint)_relay.LocalEndpoint).Port;

    [SetUp]
    public void StartRelay()
    {
        _relay = new TcpListener(IPAddress.Loopback, 0);
        _relay.Start();
    }

    [TearDown]
    public async Task StopAsync()
    {
        _relay.Stop();
        _relay.Dispose();
        if (_registrar is not null)
        {
            await _registrar.DisposeAsync();
        }
    }

    private async Task<RendezvousConnector> ConnectorAsync(string host = "127.0.0.1", TimeSpan? pairingTimeout = null)
    {
        _registrar = await StubRegistrar.StartAsync(200, $$$"""{"result":{"host":"{{{host}}}","port":{{{RelayPort}}},"cookie":"Iabcdef0123456789"}}""");
        return new RendezvousConnector(new RendezvousConnectorOptions
        {
            RegistrarUrl = _registrar.Url,
            Trust = new RegistrarTrust { PinnedFingerprint = _registrar.Fingerprint },
            PairingTimeout = pairingTimeout ?? TimeSpan.FromSeconds(15),

            // One answer per test: a retry after "not ready" would find no relay answering.
            NotReadyRetries = 0,
        });
    }

    /// <summary>Accepts one connection, checks the line the connector sent, then answers with <paramref name="answer"/> (nothing when null) and optionally closes.</summary>
    private async Task<Socket> AnswerAsync(string? answer, bool close)
    {
        var socket = await _relay.AcceptSocketAsync().WaitAsync(TestTimeouts.Short);
        var line = new byte["Iabcdef0123456789\n".Length];
        for (var filled = 0; filled < line.Length;)
        {
            var read = await socket.ReceiveAsync(line.AsMemory(filled), SocketFlags.None).AsTask().WaitAsync(TestTimeouts.Short);
            Assert.That(read, Is.Positive, "the connector closed before sending its line");
            filled += read;
        }

        Assert.That(Encoding.ASCII.GetString(line), Is.EqualTo("Iabcdef0123456789\n"));
        if (answer is not null)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(answer));
        }

        if (close)
        {
            socket.Shutdown(SocketShutdown.Both);
        }

        return socket;
    }

    [Test]
    public async Task Relay_that_never_answers_times_out_after_the_pairing_timeout()
    {
        using var connector = await ConnectorAsync(pairingTimeout: TimeSpan.FromMilliseconds(300));
        var connecting = connector.ConnectAsync(Guid.NewGuid().ToString());
        using var relaySide = await AnswerAsync(null, close: false);

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connecting.WaitAsync(TestTimeouts.Short));

        Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Timeout));
    }

    [Test]
    public async Task Relay_that_closes_without_answering_is_Transport()
    {
        using var connector = await ConnectorAsync();
        var connecting = connector.ConnectAsync(Guid.NewGuid().ToString());
        using var relaySide = await AnswerAsync(null, close: true);

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connecting.WaitAsync(TestTimeouts.Short));

        Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
    }

    [TestCase("-ERR not registered\n", RendezvousError.NotRegistered)]
    [TestCase("-ERR not ready\n", RendezvousError.NotReady)]
    [TestCase("-ERR invalid cookie\n", RendezvousError.Refused)]
    [TestCase("-ERR not ready\r\n", RendezvousError.NotReady)]
    public async Task Relay_refusal_is_reported_by_kind(string answer, RendezvousError expected)
    {
        using var connector = await ConnectorAsync();
        var connecting = connector.ConnectAsync(Guid.NewGuid().ToString());
        using var relaySide = await AnswerAsync(answer, close: true);

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connecting.WaitAsync(TestTimeouts.Short));

        Assert.That(ex!.Error, Is.EqualTo(expected));
    }

    [Test]
    public async Task Relay_port_that_answers_another_protocol_is_Transport_quoting_the_answer()
    {
        using var connector = await ConnectorAsync();
        var connecting = connector.ConnectAsync(Guid.NewGuid().ToString());
        using var relaySide = await AnswerAsync("SSH-2.0-OpenSSH_9.6\r\n", close: true);

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connecting.WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Message, Does.Contain($"The relay at 127.0.0.1:{RelayPort}").And.Contain("answered 'SSH-2.0-OpenSSH_9.6', which is not the rendezvous protocol"));
            Assert.That(ex.Message, Does.Contain("(default 8899)").And.Contain("Rendezvous:RendezvousEndpoint"));
        });
    }

    [Test]
    public async Task Relay_port_that_answers_with_a_tls_alert_is_Transport_saying_it_speaks_tls()
    {
        using var connector = await ConnectorAsync();
        var connecting = connector.ConnectAsync(Guid.NewGuid().ToString());

        // What a TLS server may answer to a line that is not a TLS record: a fatal alert (TLS 1.0 record, protocol_version).
        using var relaySide = await AnswerAsync("\u0015\u0003\u0001\u0000\u0002\u0002\u0046", close: true);

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connecting.WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Message, Does.Contain("answered with TLS, which is not the rendezvous protocol").And.Contain("(default 8899)"));
        });
    }

    [Test]
    public async Task Relay_named_by_host_name_is_reached()
    {
        using var connector = await ConnectorAsync(host: "localhost");
        var connecting = connector.ConnectAsync(Guid.NewGuid().ToString());
        using var relaySide = await AnswerAsync("+OK\nhello", close: false);

        await using var session = await connecting.WaitAsync(TestTimeouts.Short);

        Assert.That(await ClientTestKit.ReadExactlyAsync(session.Stream, 5), Is.EqualTo(Encoding.ASCII.GetBytes("hello")));
    }

    [Test]
    public async Task Unreachable_relay_is_Transport()
    {
        using var connector = await ConnectorAsync();
        _relay.Stop();

        var ex = Assert.ThrowsAsync<RendezvousException>(() => connector.ConnectAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
    }
}
