using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Registrar;
using Rendezvous.Protocol;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Connector;

/// <summary>
/// The local port forward (<c>connect --listen</c>) used as an embedder would: a real registrar and relay, a hidden
/// server agent echoing, and plain TCP clients on the forwarder's loopback port.
/// </summary>
public sealed class RendezvousForwarderTests
{
    private RendezvousTestServer _server = null!;
    private HiddenServerIdentity _identity = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        // Two parked per hidden server, so that two local connections can be relayed at once.
        _server = await RendezvousTestServer.StartAsync(
            b => b.AddTotpSecurity(),
            new Dictionary<string, string?> { ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "2" });
        _identity = await ClientTestKit.ProvisionAsync(_server);
    }

    [TearDown]
    public async Task StopServerAsync() => await _server.DisposeAsync();

    [Test]
    public async Task Each_local_connection_reaches_the_hidden_server_through_its_own_rendezvous()
    {
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(_server, _identity, poolSize: 2));
        await agent.WaitParkedAsync(2);
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        await using var forwarder = new RendezvousForwarder(connector, Options(_identity.Uuid));
        var endPoint = forwarder.Start();
        using var stop = new CancellationTokenSource();
        var run = forwarder.RunAsync(stop.Token);

        var first = ClientTestKit.Binary(200 * 1024);
        var second = ClientTestKit.Binary(1000);
        var echoed = await Task.WhenAll(RoundTripAsync(endPoint, first), RoundTripAsync(endPoint, second)).WaitAsync(TestTimeouts.Long);
        await stop.CancelAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(endPoint.Port, Is.Not.Zero);
            Assert.That(echoed[0], Is.EqualTo(first));
            Assert.That(echoed[1], Is.EqualTo(second));
            Assert.That(agent.Agent.Status.TotalSessions, Is.EqualTo(2));
            Assert.That(await run.WaitAsync(TestTimeouts.Short), Is.EqualTo(RendezvousForwarderStopReason.Stopped));
        });
    }

    [Test]
    public async Task A_forwarder_on_another_transport_relays_its_connections_with_half_closes()
    {
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(_server, _identity, poolSize: 1));
        await agent.WaitParkedAsync(1);
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        var transport = new InMemoryRelayTransport();
        var options = Options(_identity.Uuid);
        options.Transport = transport;
        await using var forwarder = new RendezvousForwarder(connector, options);
        var endPoint = forwarder.Start();
        using var stop = new CancellationTokenSource();
        var run = forwarder.RunAsync(stop.Token);

        var local = await transport.ConnectAsync();
        await local.SendAsync("ping").WaitAsync(TestTimeouts.Short);
        local.CompleteSending();
        var echoed = await local.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Long);

        // Stopping aborts what is still relayed: wait for the relay to have ended by itself first.
        await ClientTestKit.WaitUntilAsync(() => forwarder.ActiveConnections == 0, "the relayed connection ended");
        await stop.CancelAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(transport.BoundTo, Is.EqualTo(options.ListenEndPoint));
            Assert.That(endPoint, Is.EqualTo(options.ListenEndPoint));
            Assert.That(echoed, Is.EqualTo("ping"), "echoed, and the hidden server's end of stream completed the connection's output");
            Assert.That(local.WasAborted, Is.False);
            Assert.That(await run.WaitAsync(TestTimeouts.Short), Is.EqualTo(RendezvousForwarderStopReason.Stopped));
        });
    }

    [Test]
    public async Task An_unexpected_failure_of_a_connection_is_reset_and_reported_and_the_forwarder_still_stops_cleanly()
    {
        // A connector disposed under the forwarder fails in a way no rendezvous error describes.
        var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        connector.Dispose();
        var transport = new InMemoryRelayTransport();
        var options = Options(_identity.Uuid);
        options.Transport = transport;
        await using var forwarder = new RendezvousForwarder(connector, options);
        var failures = new List<RendezvousForwarderFailure>();
        forwarder.ConnectionFailed += (_, failure) =>
        {
            lock (failures)
            {
                failures.Add(failure);
            }
        };
        forwarder.Start();
        using var stop = new CancellationTokenSource();
        var run = forwarder.RunAsync(stop.Token);

        var local = await transport.ConnectAsync();
        await local.Aborted.WaitAsync(TestTimeouts.Long);
        await ClientTestKit.WaitUntilAsync(() => forwarder.ActiveConnections == 0, "the failed connection ended");
        await stop.CancelAsync();

        Assert.That(await run.WaitAsync(TestTimeouts.Short), Is.EqualTo(RendezvousForwarderStopReason.Stopped));
        lock (failures)
        {
            Assert.That(failures.Select(f => f.Exception), Has.Some.InstanceOf<ObjectDisposedException>());
        }
    }

    [Test]
    public async Task A_connection_whose_rendezvous_fails_is_reset_and_reported_and_listening_goes_on()
    {
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        var uuid = Guid.NewGuid().ToString();
        using var logs = new LogCapture();
        await using var forwarder = new RendezvousForwarder(connector, Options(uuid), logs.CreateLogger<RendezvousForwarder>());
        var failures = new List<RendezvousForwarderFailure>();
        forwarder.ConnectionFailed += (_, failure) =>
        {
            lock (failures)
            {
                failures.Add(failure);
            }
        };
        var endPoint = forwarder.Start();
        using var stop = new CancellationTokenSource();
        var run = forwarder.RunAsync(stop.Token);

        for (var i = 0; i < 2; i++)
        {
            Assert.That(await ConnectionEndsAsync(endPoint), Is.True, "the connection is reset");
        }

        await ClientTestKit.WaitUntilAsync(() => { lock (failures) { return failures.Count == 2; } }, "both connections are reported");
        await stop.CancelAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(failures.Select(f => (f.Exception as RendezvousException)?.Error), Is.All.EqualTo(RendezvousError.NotRegistered));
            Assert.That(failures.Select(f => ((IPEndPoint)f.Client!).Address), Is.All.EqualTo(IPAddress.Loopback));
            Assert.That(await run.WaitAsync(TestTimeouts.Short), Is.EqualTo(RendezvousForwarderStopReason.Stopped));
            Assert.That(logs.Records.Count(r => r.EventId.Name == "ForwardingFailed"), Is.EqualTo(2));
            Assert.That(logs.AllText, Does.Contain(uuid));
        });
    }

    [Test]
    public async Task A_registrar_pin_mismatch_stops_the_forwarder()
    {
        var wrongPin = string.Join(':', Enumerable.Repeat("AB", 32));
        using var connector = new RendezvousConnector(new RendezvousConnectorOptions
        {
            RegistrarUrl = _server.RegistrarUrl,
            Trust = new RegistrarTrust { PinnedFingerprint = wrongPin },
        });
        await using var forwarder = new RendezvousForwarder(connector, Options(_identity.Uuid));
        var endPoint = forwarder.Start();
        var run = forwarder.RunAsync();

        Assert.That(await ConnectionEndsAsync(endPoint), Is.True, "the connection is reset");

        Assert.That(await run.WaitAsync(TestTimeouts.Short), Is.EqualTo(RendezvousForwarderStopReason.CertificateMismatch));
        Assert.That(async () => await ConnectAsync(endPoint), Throws.InstanceOf<SocketException>(), "the port is closed once it stopped");
    }

    [Test]
    public async Task At_MaxConnections_the_next_connection_waits_until_one_ends()
    {
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(_server, _identity, poolSize: 2));
        await agent.WaitParkedAsync(2);
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        var options = Options(_identity.Uuid);
        options.MaxConnections = 1;
        await using var forwarder = new RendezvousForwarder(connector, options);
        var endPoint = forwarder.Start();
        using var stop = new CancellationTokenSource();
        var run = forwarder.RunAsync(stop.Token);

        var first = await ConnectAsync(endPoint);
        using var firstStream = new NetworkStream(first, ownsSocket: true);
        await firstStream.WriteAsync(new byte[] { 1 }).AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(await ClientTestKit.ReadExactlyAsync(firstStream, 1), Is.EqualTo(new byte[] { 1 }));

        using var second = await ConnectAsync(endPoint);
        using var secondStream = new NetworkStream(second, ownsSocket: false);
        await secondStream.WriteAsync(new byte[] { 2 }).AsTask().WaitAsync(TestTimeouts.Short);
        var secondEcho = ClientTestKit.ReadExactlyAsync(secondStream, 1);
        var early = await Task.WhenAny(secondEcho, Task.Delay(TestTimeouts.Quiet));
        var activeWhileFull = forwarder.ActiveConnections;

        first.Shutdown(SocketShutdown.Send);
        Assert.That(await ClientTestKit.ReadToEndAsync(firstStream), Is.Empty, "the first connection ends cleanly");
        var echoedLater = await secondEcho.WaitAsync(TestTimeouts.Short);
        await stop.CancelAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(early, Is.Not.SameAs(secondEcho), "the second connection was served while the first held the only slot");
            Assert.That(activeWhileFull, Is.EqualTo(1));
            Assert.That(echoedLater, Is.EqualTo(new byte[] { 2 }));
            Assert.That(await run.WaitAsync(TestTimeouts.Short), Is.EqualTo(RendezvousForwarderStopReason.Stopped));
        });
    }

    [Test]
    public async Task Stopping_closes_the_port_and_aborts_relayed_connections_within_the_shutdown_timeout()
    {
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(_server, _identity));
        await agent.WaitParkedAsync();
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        await using var forwarder = new RendezvousForwarder(connector, Options(_identity.Uuid));
        var endPoint = forwarder.Start();
        using var stop = new CancellationTokenSource();
        var run = forwarder.RunAsync(stop.Token);
        using var client = await ConnectAsync(endPoint);
        using var stream = new NetworkStream(client, ownsSocket: false);
        await stream.WriteAsync(new byte[] { 7 }).AsTask().WaitAsync(TestTimeouts.Short);
        Assert.That(await ClientTestKit.ReadExactlyAsync(stream, 1), Is.EqualTo(new byte[] { 7 }));

        await stop.CancelAsync();
        var reason = await run.WaitAsync(TestTimeouts.Short);

        Assert.Multiple(async () =>
        {
            Assert.That(reason, Is.EqualTo(RendezvousForwarderStopReason.Stopped));
            Assert.That(forwarder.ActiveConnections, Is.Zero);
            Assert.That(await EndsAsync(client), Is.True, "the relayed connection ended");
            Assert.That(async () => await ConnectAsync(endPoint), Throws.InstanceOf<SocketException>(), "the port is closed");
        });
    }

    [Test]
    public void Bad_options_are_refused_naming_each_value()
    {
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        var options = new RendezvousForwarderOptions { Uuid = "nope", MaxConnections = 0, ListenBacklog = -1, ShutdownTimeout = TimeSpan.FromSeconds(-1) };

        var ex = Assert.Throws<ArgumentException>(() => _ = new RendezvousForwarder(connector, options));

        Assert.That(ex!.Message, Does.Contain("ListenEndPoint is not set").And.Contain("Uuid is 'nope'").And.Contain("MaxConnections is 0")
            .And.Contain("ListenBacklog is -1").And.Contain("ShutdownTimeout is -00:00:01"));
    }

    [Test]
    public async Task A_port_in_use_is_a_SocketException_from_Start_and_a_second_Start_is_refused()
    {
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(_server));
        await using var first = new RendezvousForwarder(connector, Options(_identity.Uuid));
        var endPoint = first.Start();
        await using var second = new RendezvousForwarder(connector, new RendezvousForwarderOptions { ListenEndPoint = endPoint, Uuid = _identity.Uuid });

        Assert.Multiple(() =>
        {
            Assert.That(() => second.Start(), Throws.InstanceOf<SocketException>().With.Property(nameof(SocketException.SocketErrorCode)).EqualTo(SocketError.AddressAlreadyInUse));
            Assert.That(() => first.Start(), Throws.InvalidOperationException);
            Assert.That(first.LocalEndPoint, Is.EqualTo(endPoint));
        });
    }

    private static RendezvousForwarderOptions Options(string uuid)
    {
        Assert.That(EndpointText.TryParseListen("127.0.0.1:0", out var listen, out var error), Is.True, error);
        return new RendezvousForwarderOptions { ListenEndPoint = listen, Uuid = uuid };
    }

    private static async Task<Socket> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint).WaitAsync(TestTimeouts.Short);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        return await ClientTestKit.ReadToEndAsync(stream);
    }

    /// <summary>
    /// Connects and reads until the forwarder ends the connection. A reset can come before the connection's
    /// completion was seen (the forwarder refuses within milliseconds): then the connect itself fails with it.
    /// </summary>
    private static async Task<bool> ConnectionEndsAsync(IPEndPoint endPoint)
    {
        Socket client;
        try
        {
            client = await ConnectAsync(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }

        using (client)
        {
            return await EndsAsync(client);
        }
    }

    /// <summary>Whether the peer ended the connection (a clean end or a reset) with nothing more sent.</summary>
    private static async Task<bool> EndsAsync(Socket socket)
    {
        try
        {
            return (await ReadToEndAsync(socket)).Length == 0;
        }
        catch (Exception ex) when (ex is IOException or SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return true;
        }
    }

    /// <summary>Sends <paramref name="data"/> through the forwarder, half-closes and reads the echo to its end.</summary>
    private static async Task<byte[]> RoundTripAsync(IPEndPoint endPoint, byte[] data)
    {
        using var client = await ConnectAsync(endPoint);
        using var stream = new NetworkStream(client, ownsSocket: false);
        var reading = ClientTestKit.ReadToEndAsync(stream);
        await stream.WriteAsync(data).AsTask().WaitAsync(TestTimeouts.Long);
        client.Shutdown(SocketShutdown.Send);
        return await reading.WaitAsync(TestTimeouts.Long);
    }
}
