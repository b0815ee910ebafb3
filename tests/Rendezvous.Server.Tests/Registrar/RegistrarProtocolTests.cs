using System.Net;
using System.Text.RegularExpressions;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>PROTOCOL.md section 1 over real HTTPS, with a mocked policy that accepts <see cref="ServerTestBase.GoodCode"/>.</summary>
public sealed partial class RegistrarProtocolTests : ServerTestBase
{
    private static string NewUuid() => Guid.NewGuid().ToString();

    [GeneratedRegex("""^\{"result":\{"host":"127\.0\.0\.1","port":(?<port>[0-9]+),"cookie":"R(?<cookie>[!-~]+)","pool":1\}\}$""")]
    private static partial Regex RegisterTriple();

    [Test]
    public async Task Put_with_an_accepted_code_answers_200_json_with_an_R_triple_naming_the_relay()
    {
        var reply = await Registrar.RegisterAsync(NewUuid(), GoodCode);

        var match = RegisterTriple().Match(reply.Body);
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(match.Success, Is.True, reply.Body);
            Assert.That(match.Groups["port"].Value, Is.EqualTo(Server.RelayEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)));

            // PROTOCOL.md section 4: printable, no whitespace, at least 128 bits (22 base64 characters).
            Assert.That(match.Groups["cookie"].Value, Has.Length.GreaterThanOrEqualTo(22));
        });
    }

    [Test]
    public async Task Get_after_registration_answers_an_I_triple_with_the_initiator_value_derived_from_the_R_value()
    {
        var uuid = NewUuid();
        var registered = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;

        var reply = await Registrar.LookUpAsync(uuid);

        var triple = reply.Triple;
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(triple.Cookie, Is.EqualTo(registered.InitiatorCookie));
            Assert.That(triple.Bare, Is.Not.EqualTo(registered.Bare), "a lookup must not reveal the R value");
            Assert.That(triple.Host, Is.EqualTo(registered.Host));
            Assert.That(triple.Port, Is.EqualTo(registered.Port));
        });
    }

    [Test]
    public async Task Registered_cookies_pair_a_responder_and_an_initiator_at_the_relay()
    {
        var uuid = NewUuid();
        var registered = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;
        var lookedUp = (await Registrar.LookUpAsync(uuid)).Triple;

        await RelayRoundTrip.AssertPairsAndSplicesAsync(Server.RelayEndPoint, registered.Cookie, lookedUp.Cookie);
    }

    [Test]
    public async Task Every_registration_issues_a_fresh_cookie_and_the_old_one_is_not_registered_at_the_relay()
    {
        var uuid = NewUuid();
        var first = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;
        var second = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;

        Assert.That(second.Bare, Is.Not.EqualTo(first.Bare));
        Assert.That((await Registrar.LookUpAsync(uuid)).Triple.Cookie, Is.EqualTo(second.InitiatorCookie));

        using (var oldResponder = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "R" + first.Bare))
        {
            Assert.That(await oldResponder.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        }

        using (var oldInitiator = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, first.InitiatorCookie))
        {
            Assert.That(await oldInitiator.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        }

        using var newResponder = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, "R" + second.Bare);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);
        Assert.That(await newResponder.StaysQuietAsync(), Is.True);
    }

    [Test]
    public async Task Reregistering_closes_connections_parked_with_the_old_cookie_at_once()
    {
        var uuid = NewUuid();
        var first = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;
        using var parked = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, first.Cookie);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);

        await Registrar.RegisterAsync(uuid, GoodCode);

        Assert.That(await parked.WaitForEndAsync(), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 0);
    }

    [Test]
    public async Task Reregistering_leaves_spliced_sessions_running()
    {
        var uuid = NewUuid();
        var registered = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;
        using var responder = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, registered.Cookie);
        await WaitUntilAsync(() => Server.Broker.ParkedCount == 1);
        using var initiator = await LoopbackClient.ConnectWithLineAsync(Server.RelayEndPoint, registered.InitiatorCookie);
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));

        await Registrar.RegisterAsync(uuid, GoodCode);

        await initiator.SendAsync("still here\n");
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("still here"));
        await responder.SendAsync("me too\n");
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("me too"));
    }

    [Test]
    public async Task Get_for_an_unknown_uuid_answers_200_not_registered_and_not_permanent()
    {
        var reply = await Registrar.LookUpAsync(NewUuid());

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.Body, Is.EqualTo("""{"error":{"permanent":false,"diagnostic":"not registered"}}"""));
        });
    }

    [Test]
    public async Task Put_rejected_by_the_policy_answers_200_invalid_request_and_registers_nothing()
    {
        var uuid = NewUuid();

        var reply = await Registrar.RegisterAsync(uuid, "654321");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.Body, Is.EqualTo("""{"error":{"permanent":false,"diagnostic":"invalid request"}}"""));
        });
        Assert.That((await Registrar.LookUpAsync(uuid)).Body, Does.Contain("not registered"));
    }

    [Test]
    public async Task The_policy_sees_the_uuid_the_response_and_the_callers_address()
    {
        var uuid = NewUuid();

        await Registrar.RegisterAsync(uuid, GoodCode);

        Policy.Verify(
            p => p.AuthorizeAsync(
                It.Is<RegistrationRequest>(r => r.Uuid == uuid && r.Response == GoodCode && r.RemoteAddress != null && IPAddress.IsLoopback(r.RemoteAddress)),
                It.IsAny<CancellationToken>()),
            Times.Once);
    }

    [Test]
    public async Task A_throttle_decision_answers_429_with_retry_after_in_whole_seconds_rounded_up()
    {
        Policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(ValueTask.FromResult(RegistrationDecision.Throttle(TimeSpan.FromSeconds(2.2))));

        var reply = await Registrar.RegisterAsync(NewUuid(), GoodCode);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.RetryAfter, Is.EqualTo("3"));
            Assert.That(reply.IsError(permanent: false), Is.True, reply.Body);
        });
    }

    [TestCase("GET", "/")]
    [TestCase("GET", "/?uuid=")]
    [TestCase("GET", "/?uuid=&response=123456")]
    [TestCase("GET", "/?response=123456")]
    [TestCase("PUT", "/")]
    [TestCase("PUT", "/?uuid=")]
    [TestCase("PUT", "/?uuid=&response=123456")]
    [TestCase("PUT", "/?response=123456")]
    [TestCase("POST", "/")]
    [TestCase("POST", "/?uuid=")]
    [TestCase("POST", "/?response=123456")]
    [TestCase("DELETE", "/?other=1")]
    public async Task Missing_or_empty_uuid_answers_404_permanent_whatever_the_method(string method, string pathAndQuery)
    {
        var reply = await Registrar.SendAsync(new HttpMethod(method), pathAndQuery);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.IsError(permanent: true), Is.True, reply.Body);
        });
        Policy.VerifyNoOtherCalls();
    }

    [TestCase("GET", "PUT")]
    [TestCase("POST", "PUT")]
    [TestCase("DELETE", "PUT")]
    public async Task A_response_with_a_method_other_than_put_answers_405_allow_put(string method, string expected)
    {
        var reply = await Registrar.SendAsync(new HttpMethod(method), "/?uuid=x&response=1");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.MethodNotAllowed));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.Allow, Is.EqualTo(new[] { expected }));
            Assert.That(reply.Body, Is.EqualTo($$$"""{"error":{"permanent":true,"diagnostic":"expecting {{{expected}}} not {{{method}}}"}}"""));
        });
        Policy.VerifyNoOtherCalls();
    }

    [TestCase("PUT", "GET")]
    [TestCase("POST", "GET")]
    public async Task No_response_with_a_method_other_than_get_answers_405_allow_get(string method, string expected)
    {
        var reply = await Registrar.SendAsync(new HttpMethod(method), "/?uuid=x");

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.MethodNotAllowed));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.Allow, Is.EqualTo(new[] { expected }));
            Assert.That(reply.Body, Is.EqualTo($$$"""{"error":{"permanent":true,"diagnostic":"expecting {{{expected}}} not {{{method}}}"}}"""));
        });
    }

    [Test]
    public async Task Any_path_is_accepted_for_registration_and_lookup()
    {
        var uuid = NewUuid();

        var registered = await Registrar.SendAsync(HttpMethod.Put, $"/anything/else?uuid={uuid}&response={GoodCode}");
        var lookedUp = await Registrar.SendAsync(HttpMethod.Get, $"/some/other/path.json?uuid={uuid}");

        Assert.Multiple(() =>
        {
            Assert.That(registered.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(lookedUp.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(lookedUp.Triple.Cookie, Is.EqualTo(registered.Triple.InitiatorCookie));
        });
    }

    [Test]
    public async Task Without_a_public_host_the_triple_names_the_host_the_client_used()
    {
        var localhost = new UriBuilder(Server.RegistrarUrl) { Host = "localhost" }.Uri;
        using var client = RegistrarClient.CreatePinned(localhost, Server.CertificateFingerprint);
        var uuid = NewUuid();

        var registered = (await client.RegisterAsync(uuid, GoodCode)).Triple;
        var lookedUp = (await client.LookUpAsync(uuid)).Triple;

        Assert.Multiple(() =>
        {
            Assert.That(registered.Host, Is.EqualTo("localhost"));
            Assert.That(lookedUp.Host, Is.EqualTo("localhost"));
            Assert.That(registered.Port, Is.EqualTo(Server.RelayEndPoint.Port));
        });
    }
}

/// <summary>The triple's host when <c>Rendezvous:Registrar:PublicHost</c> is set.</summary>
public sealed class RegistrarPublicHostTests : ServerTestBase
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Rendezvous:Registrar:PublicHost"] = "example.test",
    };

    [Test]
    public async Task Triples_name_the_configured_public_host_whatever_host_the_client_used()
    {
        var uuid = Guid.NewGuid().ToString();

        var registered = (await Registrar.RegisterAsync(uuid, GoodCode)).Triple;
        var lookedUp = (await Registrar.LookUpAsync(uuid)).Triple;

        Assert.Multiple(() =>
        {
            Assert.That(registered.Host, Is.EqualTo("example.test"));
            Assert.That(lookedUp.Host, Is.EqualTo("example.test"));
            Assert.That(registered.Port, Is.EqualTo(Server.RelayEndPoint.Port));
        });
    }
}
