using Microsoft.Extensions.DependencyInjection;
using Moq;
using Rendezvous.Client.Registrar;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Tls;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;
using RegistrarClient = Rendezvous.Client.Registrar.RegistrarClient;

namespace Rendezvous.Client.Tests.Registrar;

/// <summary>The registrar client against a real HTTPS registrar (and a stub for answers the real one cannot be led to give).</summary>
public sealed class RegistrarClientTests
{
    private const string GoodCode = "123456";

    private Mock<IRegistrationPolicy> _policy = null!;
    private RendezvousTestServer _server = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        _policy = new Mock<IRegistrationPolicy>();
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns((RegistrationRequest request, CancellationToken _) => ValueTask.FromResult(
                request.Response == GoodCode ? RegistrationDecision.Accept() : RegistrationDecision.Reject()));
        _server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(_policy.Object));
    }

    [TearDown]
    public async Task StopServerAsync() => await _server.DisposeAsync();

    private static string OtherFingerprint()
    {
        using var other = RegistrarCertificates.CreateSelfSigned("other", ["127.0.0.1"], TimeSpan.FromDays(1));
        return RegistrarCertificates.GetSha256Fingerprint(other);
    }

    [Test]
    public async Task Pinned_fingerprint_is_accepted()
    {
        using var client = new RegistrarClient(_server.RegistrarUrl, new RegistrarTrust { PinnedFingerprint = _server.CertificateFingerprint });

        var triple = await client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(triple.Host, Is.EqualTo("127.0.0.1"));
            Assert.That(triple.Port, Is.EqualTo(_server.RelayEndPoint.Port));
            Assert.That(triple.Cookie, Does.StartWith("R"));
            Assert.That(triple.CookieValue, Has.Length.GreaterThanOrEqualTo(16));
        });
    }

    [Test]
    public async Task Pinned_fingerprint_in_bare_hex_lowercase_is_accepted()
    {
        var bare = _server.CertificateFingerprint.Replace(":", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
        using var client = new RegistrarClient(_server.RegistrarUrl, new RegistrarTrust { PinnedFingerprint = bare });
        var uuid = Guid.NewGuid().ToString();
        await client.RegisterAsync(uuid, GoodCode).WaitAsync(TestTimeouts.Short);

        var triple = await client.LookupAsync(uuid).WaitAsync(TestTimeouts.Short);

        Assert.That(triple.Cookie, Does.StartWith("I"));
    }

    [Test]
    public void Fingerprint_mismatch_is_refused_naming_expected_and_presented()
    {
        var other = OtherFingerprint();
        using var client = new RegistrarClient(_server.RegistrarUrl, new RegistrarTrust { PinnedFingerprint = other });

        var ex = Assert.ThrowsAsync<CertificatePinMismatchException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Expected, Is.EqualTo(CertificateFingerprint.Normalize(other)));
            Assert.That(ex.Presented, Is.EqualTo(CertificateFingerprint.Normalize(_server.CertificateFingerprint)));
            Assert.That(ex.Message, Does.Contain(ex.Expected).And.Contain(ex.Presented));
            Assert.That(ex.Error, Is.EqualTo(RendezvousError.CertificateMismatch));
            Assert.That(ex.Permanent, Is.True);
        });
        _policy.Verify(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public async Task Pin_by_pem_file_of_the_registrar_certificate_is_accepted()
    {
        var pem = Path.Combine(_server.DataDirectory, RegistrarCertificates.CertificateFileName);
        Assert.That(File.Exists(pem), Is.True, pem);
        using var client = new RegistrarClient(_server.RegistrarUrl, new RegistrarTrust { CertificateAuthorityPath = pem });

        var triple = await client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short);

        Assert.That(triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public async Task Pin_by_the_root_ca_of_a_registrar_that_sends_its_intermediate_is_accepted()
    {
        using var chain = TestCertificateChain.Create();
        var (certificatePath, keyPath) = chain.WriteFullChain();
        await using var caServer = await RendezvousTestServer.StartAsync(
            b => b.AddPolicy(_policy.Object),
            new Dictionary<string, string?> { ["Rendezvous:CertificatePath"] = certificatePath, ["Rendezvous:KeyPath"] = keyPath });
        using var directory = new TemporaryDirectory();
        var root = directory.Combine("root-ca.pem");
        File.WriteAllText(root, chain.Root.ExportCertificatePem());
        using var client = new RegistrarClient(caServer.RegistrarUrl, new RegistrarTrust { CertificateAuthorityPath = root });

        var triple = await client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short);

        Assert.That(triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public void Pin_by_a_different_pem_file_is_refused()
    {
        using var directory = new TemporaryDirectory();
        using var other = RegistrarCertificates.CreateSelfSigned("other", ["127.0.0.1"], TimeSpan.FromDays(1));
        var pem = directory.Combine("other.crt");
        File.WriteAllText(pem, other.ExportCertificatePem());
        using var client = new RegistrarClient(_server.RegistrarUrl, new RegistrarTrust { CertificateAuthorityPath = pem });

        var ex = Assert.ThrowsAsync<CertificatePinMismatchException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Presented, Is.EqualTo(CertificateFingerprint.Normalize(_server.CertificateFingerprint)));
            Assert.That(ex.Expected, Does.Contain(RegistrarCertificates.GetSha256Fingerprint(other)));
            Assert.That(ex.Permanent, Is.True);
        });
    }

    [Test]
    public void System_store_alone_refuses_the_self_signed_registrar_certificate_as_not_trusted_naming_its_fingerprint()
    {
        using var client = new RegistrarClient(_server.RegistrarUrl, new RegistrarTrust());

        var ex = Assert.ThrowsAsync<CertificateNotTrustedException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.CertificateMismatch));
            Assert.That(ex.Permanent, Is.True);
            Assert.That(ex.Presented, Is.EqualTo(CertificateFingerprint.Normalize(_server.CertificateFingerprint)));
            Assert.That(ex.Message, Does.Contain("system trust store does not trust").And.Contain("self-signed").And.Contain(ex.Presented).And.Contain(_server.RegistrarUrl.ToString()));
            Assert.That(ex.Message, Does.Not.Contain("pinned"));
        });
        _policy.Verify(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public void Registrar_url_naming_the_relay_port_says_it_did_not_speak_tls_and_which_port_is_whose()
    {
        var relayAsRegistrar = new Uri($"https://127.0.0.1:{_server.RelayEndPoint.Port}/");
        using var client = new RegistrarClient(relayAsRegistrar, ClientTestKit.Pinned(_server));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Message, Does.Contain($"The registrar at {relayAsRegistrar} did not speak TLS"));
            Assert.That(ex.Message, Does.Contain("'-ERR").And.Contain("as a rendezvous relay does"));
            Assert.That(ex.Message, Does.Contain("registrar's (default 8898) and not the relay's (8899)"));
        });
    }

    [Test]
    public async Task Registrar_url_naming_a_port_that_closes_during_the_handshake_says_the_tls_handshake_failed()
    {
        await using var silent = LocalTcpService.Answering([]);
        var url = new Uri($"https://127.0.0.1:{silent.Port}/");
        using var client = new RegistrarClient(url, ClientTestKit.Pinned(_server));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Message, Does.StartWith($"The TLS handshake with the registrar at {url} failed (").And.EndWith("Is the port the registrar's (default 8898) and not the relay's (8899)?"));
            Assert.That(ex.Message, Does.Not.Contain("did not speak TLS"), "nothing was answered, so nothing is claimed about it");
        });
    }

    [Test]
    public void Unreachable_registrar_is_Transport_with_the_connection_error_inside()
    {
        // The agent reuses a step whose request never reached the registrar; it tells by this inner error.
        var url = new Uri($"https://127.0.0.1:{ClientTestKit.FreePort()}/");
        using var client = new RegistrarClient(url, ClientTestKit.Pinned(_server));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Message, Does.Contain($"The registrar at {url} could not be reached"));
            Assert.That(ex.InnerException, Is.InstanceOf<System.Net.Http.HttpRequestException>()
                .With.Property(nameof(System.Net.Http.HttpRequestException.HttpRequestError)).EqualTo(System.Net.Http.HttpRequestError.ConnectionError));
        });
    }

    [Test]
    public async Task Registrar_url_naming_a_plain_text_service_says_it_did_not_speak_tls_quoting_its_answer()
    {
        await using var plain = LocalTcpService.Answering("SSH-2.0-OpenSSH_9.6\r\n"u8.ToArray());
        var url = new Uri($"https://127.0.0.1:{plain.Port}/");
        using var client = new RegistrarClient(url, ClientTestKit.Pinned(_server));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Message, Does.Contain($"The registrar at {url} did not speak TLS: it answered 'SSH-2.0-OpenSSH_9.6' in plain text."));
            Assert.That(ex.Message, Does.Contain("(default 8898)"));
            Assert.That(ex.InnerException, Is.InstanceOf<System.Net.Http.HttpRequestException>());
        });
    }

    [Test]
    public void Lookup_of_an_unregistered_uuid_is_NotRegistered()
    {
        using var client = new RegistrarClient(_server.RegistrarUrl, ClientTestKit.Pinned(_server));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.NotRegistered));
            Assert.That(ex.Permanent, Is.False);
            Assert.That(ex.RetryAfter, Is.Null);
        });
    }

    [Test]
    public void Refused_registration_is_InvalidRequest()
    {
        using var client = new RegistrarClient(_server.RegistrarUrl, ClientTestKit.Pinned(_server));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), "654321").WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.InvalidRequest));
            Assert.That(ex.Permanent, Is.False);
        });
    }

    [Test]
    public void Throttled_registration_reports_retry_after_from_the_header()
    {
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(ValueTask.FromResult(RegistrationDecision.Throttle(TimeSpan.FromSeconds(7))));
        using var client = new RegistrarClient(_server.RegistrarUrl, ClientTestKit.Pinned(_server));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Throttled));
            Assert.That(ex.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(7)));
            Assert.That(ex.Permanent, Is.False);
        });
    }

    [Test]
    public async Task Not_found_with_a_permanent_error_body_is_Permanent()
    {
        await using var stub = await StubRegistrar.StartAsync(404, """{"error":{"permanent":true,"diagnostic":"missing uuid"}}""");
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Permanent));
            Assert.That(ex.Permanent, Is.True);
            Assert.That(ex.Message, Does.Contain("missing uuid").And.Contain("404"));
        });
    }

    [Test]
    public async Task Method_not_allowed_with_a_permanent_error_body_is_Permanent()
    {
        await using var stub = await StubRegistrar.StartAsync(
            405,
            """{"error":{"permanent":true,"diagnostic":"expecting GET not PUT"}}""",
            headers: r => r.Headers.Allow = "GET");
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Permanent));
            Assert.That(ex.Permanent, Is.True);
            Assert.That(ex.Message, Does.Contain("expecting GET not PUT"));
        });
    }

    [Test]
    public async Task Answer_that_is_not_json_is_Transport()
    {
        await using var stub = await StubRegistrar.StartAsync(200, "<html><body>It works!</body></html>", "text/html");
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Permanent, Is.False);
        });
    }

    [Test]
    public async Task Error_page_that_is_not_json_is_Transport_whatever_the_status()
    {
        await using var stub = await StubRegistrar.StartAsync(502, "Bad Gateway", "text/plain");
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Transport));
            Assert.That(ex.Message, Does.Contain("502"));
        });
    }

    [Test]
    public async Task Throttled_answer_without_a_json_body_is_still_Throttled_with_retry_after()
    {
        // A rate-limiting reverse proxy in front of the registrar answers 429 with its own page.
        await using var stub = await StubRegistrar.StartAsync(429, "<html>Too Many Requests</html>", "text/html", r => r.Headers.RetryAfter = "12");
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Throttled));
            Assert.That(ex.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(12)));
            Assert.That(ex.Permanent, Is.False);
        });
    }

    [Test]
    public async Task Requests_keep_the_path_of_the_registrar_url()
    {
        // Behind a reverse proxy the registrar may live under a path prefix.
        var paths = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var stub = await StubRegistrar.StartAsync(
            200,
            """{"result":{"host":"127.0.0.1","port":4321,"cookie":"Iabcdef0123456789"}}""",
            observe: r => paths.Enqueue(r.Path + r.QueryString));
        using var client = new RegistrarClient(new Uri(stub.Url, "/rendezvous/"), new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });
        var uuid = Guid.NewGuid().ToString();

        var triple = await client.LookupAsync(uuid).WaitAsync(TestTimeouts.Short);

        Assert.Multiple(() =>
        {
            Assert.That(triple, Is.EqualTo(new RendezvousTriple("127.0.0.1", 4321, "Iabcdef0123456789")));
            Assert.That(paths, Is.EqualTo(new[] { $"/rendezvous/?uuid={uuid}" }));
        });
    }

    [Test]
    public async Task Registrar_that_does_not_answer_in_time_is_Timeout()
    {
        await using var stub = await StubRegistrar.StartAsync(200, "{}", delay: TimeSpan.FromSeconds(30));
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint }, TimeSpan.FromMilliseconds(500));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.Timeout));
            Assert.That(ex.Permanent, Is.False);
        });
    }

    [Test]
    public async Task Any_one_accepting_trust_is_enough()
    {
        var pem = Path.Combine(_server.DataDirectory, RegistrarCertificates.CertificateFileName);
        using var client = new RegistrarClient(_server.RegistrarUrl, new RegistrarTrust { PinnedFingerprint = OtherFingerprint(), CertificateAuthorityPath = pem, TrustSystemStore = true });

        var triple = await client.RegisterAsync(Guid.NewGuid().ToString(), GoodCode).WaitAsync(TestTimeouts.Short);

        Assert.That(triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public void Trust_naming_a_missing_pem_file_is_invalid_and_names_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-registrar-" + Guid.NewGuid().ToString("N") + ".crt");

        var ex = Assert.Throws<ArgumentException>(() => new RegistrarTrust { CertificateAuthorityPath = missing }.Validate());

        Assert.That(ex!.Message, Does.Contain(missing));
    }

    [Test]
    public void Trust_with_a_malformed_fingerprint_is_invalid()
    {
        Assert.Throws<ArgumentException>(() => new RegistrarTrust { PinnedFingerprint = "AB:CD" }.Validate());
    }
}
