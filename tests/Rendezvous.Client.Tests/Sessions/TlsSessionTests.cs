using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Sessions;
using Rendezvous.Protocol.Tls;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Sessions;

/// <summary>End-to-end TLS between the agent and the connector, through a real relay.</summary>
public sealed class TlsSessionTests
{
    private static readonly byte[] Secret = Encoding.ASCII.GetBytes("attack at dawn: the-plaintext-marker-5d8c0f");

    private RendezvousTestServer _server = null!;
    private HiddenServerIdentity _identity = null!;
    private X509Certificate2 _hiddenCertificate = null!;
    private X509Certificate2 _clientCertificate = null!;
    private int _handled;

    [SetUp]
    public async Task StartServerAsync()
    {
        _server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        _identity = await ClientTestKit.ProvisionAsync(_server);
        _hiddenCertificate = RegistrarCertificates.CreateSelfSigned("hidden-server", ["hidden.example"], TimeSpan.FromDays(1));
        _clientCertificate = RegistrarCertificates.CreateSelfSigned("mobile-client", ["mobile.example"], TimeSpan.FromDays(1));
        _handled = 0;
    }

    [TearDown]
    public async Task StopServerAsync()
    {
        _hiddenCertificate.Dispose();
        _clientCertificate.Dispose();
        await _server.DisposeAsync();
    }

    private static string Fingerprint(X509Certificate2 certificate) => RegistrarCertificates.GetSha256Fingerprint(certificate);

    private Task CountingEchoAsync(RendezvousSession session, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _handled);
        return ClientTestKit.EchoAsync(session, cancellationToken);
    }

    private RunningAgent StartAgent(RendezvousAuthenticator? authenticator)
    {
        var options = ClientTestKit.AgentOptions(_server, _identity);
        options.Authenticator = authenticator;
        return RunningAgent.Start(options, CountingEchoAsync);
    }

    private RendezvousConnector Connector(RendezvousAuthenticator? authenticator)
    {
        var options = ClientTestKit.ConnectorOptions(_server);
        options.Authenticator = authenticator;
        return new RendezvousConnector(options);
    }

    /// <summary>Asserts the hidden server did not let the session through: connecting fails, or the session ends without an echo.</summary>
    private async Task AssertRejectedAsync(RendezvousConnector connector)
    {
        RendezvousSession session;
        try
        {
            session = await connector.ConnectAsync(_identity.Uuid).WaitAsync(TestTimeouts.Short);
        }
        catch (RendezvousException)
        {
            Assert.That(Volatile.Read(ref _handled), Is.Zero, "the handler saw the session");
            return;
        }

        await using (session)
        {
            byte[]? echoed = null;
            try
            {
                echoed = await ClientTestKit.RoundTripAsync(session, [42]);
            }
            catch (IOException)
            {
            }

            Assert.Multiple(() =>
            {
                Assert.That(echoed, Is.Null.Or.Empty, "the session carried data");
                Assert.That(Volatile.Read(ref _handled), Is.Zero, "the handler saw the session");
            });
        }
    }

    [Test]
    public async Task Data_flows_over_tls_pinned_to_the_hidden_servers_certificate()
    {
        await using var agent = StartAgent(new TlsHiddenServerAuthenticator(_hiddenCertificate));
        using var connector = Connector(new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate)));
        await agent.WaitParkedAsync();
        var data = ClientTestKit.Binary(100_000);

        await using var session = await connector.ConnectAsync(_identity.Uuid).WaitAsync(TestTimeouts.Short);
        var echoed = await ClientTestKit.RoundTripAsync(session, data);

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo(data));
            Assert.That(session.PeerCertificate, Is.Not.Null);
            Assert.That(CertificateFingerprint.Compute(session.PeerCertificate!), Is.EqualTo(Fingerprint(_hiddenCertificate)));
        });
    }

    [Test]
    public async Task Wrong_hidden_server_pin_is_refused_naming_both_fingerprints()
    {
        await using var agent = StartAgent(new TlsHiddenServerAuthenticator(_hiddenCertificate));
        var wrong = Fingerprint(_clientCertificate);
        using var connector = Connector(new TlsMobileClientAuthenticator(wrong));
        await agent.WaitParkedAsync();

        var ex = Assert.ThrowsAsync<CertificatePinMismatchException>(() => connector.ConnectAsync(_identity.Uuid).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Expected, Is.EqualTo(wrong));
            Assert.That(ex.Presented, Is.EqualTo(Fingerprint(_hiddenCertificate)));
            Assert.That(ex.Message, Does.Contain(wrong).And.Contain(Fingerprint(_hiddenCertificate)).And.Contain("hidden server"));
            Assert.That(ex.Permanent, Is.True);
        });
    }

    [Test]
    public async Task Required_client_certificate_with_an_allowed_fingerprint_is_accepted()
    {
        await using var agent = StartAgent(new TlsHiddenServerAuthenticator(_hiddenCertificate, [Fingerprint(_clientCertificate)]));
        using var connector = Connector(new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate), _clientCertificate));
        await agent.WaitParkedAsync();

        await using var session = await connector.ConnectAsync(_identity.Uuid).WaitAsync(TestTimeouts.Short);
        var echoed = await ClientTestKit.RoundTripAsync(session, Secret);

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo(Secret));
            Assert.That(Volatile.Read(ref _handled), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Hidden_server_sees_the_client_certificate_it_allowed()
    {
        var options = ClientTestKit.AgentOptions(_server, _identity);
        options.Authenticator = new TlsHiddenServerAuthenticator(_hiddenCertificate, [Fingerprint(_clientCertificate)]);
        var peer = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var agent = RunningAgent.Start(options, (session, ct) =>
        {
            peer.TrySetResult(session.PeerCertificate is null ? null : CertificateFingerprint.Compute(session.PeerCertificate));
            return ClientTestKit.EchoAsync(session, ct);
        });
        using var connector = Connector(new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate), _clientCertificate));
        await agent.WaitParkedAsync();

        await using var session = await connector.ConnectAsync(_identity.Uuid).WaitAsync(TestTimeouts.Short);
        await ClientTestKit.RoundTripAsync(session, [1]);

        Assert.That(await peer.Task.WaitAsync(TestTimeouts.Short), Is.EqualTo(Fingerprint(_clientCertificate)));
    }

    [Test]
    public async Task Missing_client_certificate_is_rejected_when_one_is_required()
    {
        await using var agent = StartAgent(new TlsHiddenServerAuthenticator(_hiddenCertificate, [Fingerprint(_clientCertificate)]));
        using var connector = Connector(new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate)));
        await agent.WaitParkedAsync();

        await AssertRejectedAsync(connector);
    }

    [Test]
    public async Task Unknown_client_certificate_is_rejected()
    {
        await using var agent = StartAgent(new TlsHiddenServerAuthenticator(_hiddenCertificate, [Fingerprint(_clientCertificate)]));
        using var stranger = RegistrarCertificates.CreateSelfSigned("stranger", ["stranger.example"], TimeSpan.FromDays(1));
        using var connector = Connector(new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate), stranger));
        await agent.WaitParkedAsync();

        await AssertRejectedAsync(connector);
    }

    [Test]
    public async Task Agent_keeps_serving_after_rejecting_a_client()
    {
        await using var agent = StartAgent(new TlsHiddenServerAuthenticator(_hiddenCertificate, [Fingerprint(_clientCertificate)]));
        using var anonymous = Connector(new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate)));
        using var allowed = Connector(new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate), _clientCertificate));
        await agent.WaitParkedAsync();
        await AssertRejectedAsync(anonymous);

        var echoed = await ClientTestKit.RoundTripAsync(allowed, _identity.Uuid, [9, 9]);

        Assert.That(echoed, Is.EqualTo(new byte[] { 9, 9 }));
    }

    [TestCase(true, TestName = "Relay_sees_only_ciphertext_with_tls")]
    [TestCase(false, TestName = "Relay_sees_the_plaintext_without_tls")]
    public async Task Relay_sees_what_the_session_sends(bool tls)
    {
        // A proxy in front of the relay records every byte; the registrar's triples point at it.
        await using var proxy = new CapturingTcpProxy();
        await using var server = await RendezvousTestServer.StartAsync(
            b => b.AddTotpSecurity(),
            new Dictionary<string, string?> { ["Rendezvous:Registrar:PublicPort"] = proxy.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        proxy.Target = server.RelayEndPoint;
        var identity = await ClientTestKit.ProvisionAsync(server);
        var agentOptions = ClientTestKit.AgentOptions(server, identity);
        var connectorOptions = ClientTestKit.ConnectorOptions(server);
        if (tls)
        {
            agentOptions.Authenticator = new TlsHiddenServerAuthenticator(_hiddenCertificate);
            connectorOptions.Authenticator = new TlsMobileClientAuthenticator(Fingerprint(_hiddenCertificate));
        }

        await using var agent = RunningAgent.Start(agentOptions);
        using var connector = new RendezvousConnector(connectorOptions);
        await agent.WaitParkedAsync();

        var echoed = await ClientTestKit.RoundTripAsync(connector, identity.Uuid, Secret);
        // The proxy records bytes before forwarding them, so the echo that came back has been recorded.

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo(Secret));
            Assert.That(proxy.Accepted, Is.GreaterThanOrEqualTo(2), "both sides went through the proxy");
            Assert.That(proxy.Contains(Secret), Is.EqualTo(!tls), tls ? "plaintext reached the relay" : "control: the proxy should see plaintext");
        });
    }
}
