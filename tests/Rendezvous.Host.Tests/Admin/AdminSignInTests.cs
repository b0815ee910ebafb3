using System.Net;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary>Sign-in, sign-out, the session cookie, throttling, anti-forgery and the security headers, over real HTTP.</summary>
public sealed class AdminSignInTests
{
    private AdminServer _server = null!;
    private AdminClient _client = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _server = await AdminServer.StartAsync(new Dictionary<string, string?> { ["Rendezvous:Admin:MaxLoginFailures"] = "3" });
        _client = _server.CreateClient();
    }

    [TearDown]
    public async Task StopAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task A_page_without_a_session_redirects_to_sign_in()
    {
        var reply = await _client.GetAsync("/");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(reply.Header("Location"), Is.EqualTo("/login"));
        });
    }

    [Test]
    public async Task A_wrong_token_is_refused_with_401_and_gives_no_session()
    {
        var reply = await _client.SignInAsync("not-the-admin-token-at-all");
        var list = await _client.GetAsync("/");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(reply.Body, Does.Contain("That is not the admin token."));
            Assert.That(list.Status, Is.EqualTo(HttpStatusCode.SeeOther));
        });
    }

    [Test]
    public async Task The_right_token_signs_in_with_an_httponly_strict_session_cookie()
    {
        var reply = await _client.SignInAsync(_server.Token);
        var list = await _client.GetAsync("/");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(reply.Header("Location"), Is.EqualTo("/"));
            Assert.That(reply.Header("Set-Cookie"), Does.Contain(AdminClient.SessionCookie + "=").And.Contain("httponly").And.Contain("samesite=strict"));
            Assert.That(reply.Header("Set-Cookie"), Does.Not.Contain("secure"), "plain http cannot carry a Secure cookie");
            Assert.That(list.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(list.Body, Does.Contain("Hidden servers"));
        });
    }

    [Test]
    public async Task Failed_sign_ins_from_one_address_are_throttled_with_429_and_retry_after()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.That((await _client.SignInAsync($"wrong-token-number-{i}")).Status, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        // Even the right token waits until the window ends.
        var throttled = await _client.SignInAsync(_server.Token);

        Assert.Multiple(() =>
        {
            Assert.That(throttled.Status, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That(int.Parse(throttled.Header("Retry-After")!, System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(0));
            Assert.That(throttled.Body, Does.Contain("Too many failed sign-ins"));
        });
    }

    [Test]
    public async Task Signing_out_ends_the_session_on_the_server()
    {
        await _client.SignInAsync(_server.Token);
        var session = _client.Cookies.GetCookies(_server.AdminUrl)[AdminClient.SessionCookie]!.Value;

        var reply = await _client.SubmitAsync("/", "/logout");

        // A copy of the old cookie is no longer a session.
        using var other = _server.CreateClient();
        other.Cookies.Add(_server.AdminUrl, new Cookie(AdminClient.SessionCookie, session));
        Assert.Multiple(async () =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(reply.Header("Location"), Is.EqualTo("/login"));
            Assert.That((await other.GetAsync("/")).Status, Is.EqualTo(HttpStatusCode.SeeOther));
        });
    }

    [Test]
    public async Task Signing_out_of_a_session_ended_in_another_tab_leads_to_sign_in()
    {
        await _client.SignInAsync(_server.Token);
        var secondTab = await _client.GetAsync("/");
        await _client.SubmitAsync("/", "/logout");

        var reply = await _client.PostRawAsync("/logout", [KeyValuePair.Create("csrf", secondTab.CsrfToken)]);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(reply.Header("Location"), Is.EqualTo("/login"));
        });
    }

    [Test]
    public async Task A_post_without_an_antiforgery_token_gets_400_with_a_clear_body()
    {
        await _client.SignInAsync(_server.Token);

        var reply = await _client.PostRawAsync("/logout", []);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(reply.Body, Does.Contain("anti-forgery token is missing or not valid"));
            Assert.That((await _client.GetAsync("/")).Status, Is.EqualTo(HttpStatusCode.OK), "the forged sign-out did nothing");
        });
    }

    [Test]
    public async Task A_form_over_the_size_limit_gets_413_naming_the_limit_not_a_token_problem()
    {
        var reply = await _client.SubmitAsync("/login", "/login", ("token", new string('a', AdminClient.MaxFormBytes + 1)));

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
            Assert.That(reply.Body, Does.Contain("The form could not be read").And.Contain("16 KiB in all").And.Not.Contain("anti-forgery"));
        });
    }

    [Test]
    public async Task A_form_with_too_many_fields_gets_400_naming_the_limit()
    {
        var fields = Enumerable.Range(0, AdminClient.MaxFormFields + 1).Select(i => ($"field{i}", "x")).ToArray();

        var reply = await _client.SubmitAsync("/login", "/login", fields);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(reply.Body, Does.Contain($"at most {AdminClient.MaxFormFields} fields").And.Not.Contain("anti-forgery"));
        });
    }

    [Test]
    public async Task A_post_that_is_not_a_form_gets_415_naming_its_content_type()
    {
        using var json = new System.Net.Http.StringContent("{}", System.Text.Encoding.UTF8, "application/json");

        var reply = await _client.PostContentAsync("/login", json);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.UnsupportedMediaType));
            Assert.That(reply.Body, Does.Contain("application/json").And.Contain("application/x-www-form-urlencoded"));
        });
    }

    [TestCase("/login", "attacker.example")]
    [TestCase("/metrics", "attacker.example")]
    [TestCase("/login", "xn--zz")]
    public async Task A_request_addressed_to_another_host_name_is_refused_with_421(string path, string host)
    {
        // What a page on attacker.example gets after making its name resolve to 127.0.0.1 (DNS rebinding). xn--zz is
        // not valid punycode: reading HttpRequest.Host threw on it (a 500), as on the registrar (eng/fuzz.sh query).
        var reply = await _client.GetWithHostAsync(path, $"{host}:{_server.AdminUrl.Port}");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.MisdirectedRequest));
            Assert.That(reply.Body, Does.Contain($"&#x27;{host}&#x27;").And.Contain("IP address or localhost"));
        });
    }

    [TestCase("localhost")]
    [TestCase("127.0.0.1")]
    [TestCase("[::1]")]
    public async Task A_request_addressed_to_localhost_or_an_ip_address_is_served(string host)
    {
        var reply = await _client.GetWithHostAsync("/login", $"{host}:{_server.AdminUrl.Port}");

        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task A_sign_in_with_a_token_taken_from_another_client_gets_400()
    {
        // The form token is bound to its own anti-forgery cookie: a page fetched by someone else does not help.
        using var attacker = _server.CreateClient();
        var page = await attacker.GetAsync("/login");
        await _client.GetAsync("/login");

        var reply = await _client.PostRawAsync("/login", [KeyValuePair.Create("csrf", page.CsrfToken), KeyValuePair.Create("token", _server.Token)]);

        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [TestCase("/login")]
    [TestCase("/")]
    [TestCase("/no-such-page")]
    public async Task Every_page_carries_the_security_headers(string path)
    {
        await _client.SignInAsync(_server.Token);

        var reply = await _client.GetAsync(path);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Header("Content-Security-Policy"), Does.Contain("default-src 'self'").And.Contain("script-src 'self'").And.Not.Contain("unsafe-inline"));
            Assert.That(reply.Header("X-Frame-Options"), Is.EqualTo("DENY"));
            Assert.That(reply.Header("Referrer-Policy"), Is.EqualTo("no-referrer"));
            Assert.That(reply.Header("Cache-Control"), Does.Contain("no-store"));
        });
    }

    [Test]
    public async Task An_unknown_page_gets_a_404_page()
    {
        await _client.SignInAsync(_server.Token);

        var reply = await _client.GetAsync("/no-such-page");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(reply.Body, Does.Contain("There is no page at /no-such-page"));
        });
    }
}

/// <summary>The admin listener on https: the registrar's certificate, and a Secure session cookie.</summary>
public sealed class AdminHttpsTests
{
    [Test]
    public async Task Over_https_the_session_cookie_is_secure()
    {
        await using var server = await AdminServer.StartAsync(new Dictionary<string, string?> { ["Rendezvous:Admin:Url"] = "https://127.0.0.1:0" });
        using var client = server.CreateClient();

        var reply = await client.SignInAsync(server.Token);

        Assert.Multiple(() =>
        {
            Assert.That(server.AdminUrl.Scheme, Is.EqualTo("https"));
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(reply.Header("Set-Cookie"), Does.Contain(AdminClient.SessionCookie + "=").And.Contain("secure"));
        });
    }

    [Test]
    public async Task Over_https_with_a_full_chain_certificate_file_the_intermediate_is_sent()
    {
        using var chain = TestCertificateChain.Create();
        var (certificatePath, keyPath) = chain.WriteFullChain();
        await using var server = await AdminServer.StartAsync(new Dictionary<string, string?>
        {
            ["Rendezvous:Admin:Url"] = "https://127.0.0.1:0",
            ["Rendezvous:CertificatePath"] = certificatePath,
            ["Rendezvous:KeyPath"] = keyPath,
        });

        var admin = new IPEndPoint(IPAddress.Parse(server.AdminUrl.Host), server.AdminUrl.Port);
        List<X509Certificate2> sent = await TestCertificateChain.GetSentCertificatesAsync(admin);

        chain.AssertIntermediateSent(sent, "the admin listener");
    }
}
