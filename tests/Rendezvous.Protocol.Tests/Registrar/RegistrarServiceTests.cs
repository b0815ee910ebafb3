using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Moq;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Registrar;

public sealed partial class RegistrarServiceTests
{
    private const string Uuid = "6f1c2d3e-0000-4000-8000-000000000001";
    private const int BoundPort = 4321;
    private static readonly IPAddress Caller = IPAddress.Parse("192.0.2.7");

    private Mock<IRegistrationPolicy> _policy = null!;
    private RendezvousBroker _broker = null!;
    private RegistrarOptions _registrarOptions = null!;
    private RendezvousMetrics _metrics = null!;
    private RegistrarService _service = null!;

    [SetUp]
    public void SetUp()
    {
        _policy = new Mock<IRegistrationPolicy>(MockBehavior.Strict);
        _broker = new RendezvousBroker(TestOptionsMonitor.Create(new RendezvousRelayOptions()), new FakeTimeProvider());
        _registrarOptions = new RegistrarOptions();
        _metrics = new RendezvousMetrics();
        _service = new RegistrarService(
            _broker,
            _policy.Object,
            TestOptionsMonitor.Create(_registrarOptions),
            new RendezvousEndpoint { Port = BoundPort },
            _metrics);
    }

    [TearDown]
    public void TearDown() => _metrics.Dispose();

    [Test]
    public async Task Put_with_response_asks_the_policy_with_uuid_response_and_address()
    {
        Accept();

        await HandleAsync(Put(Uuid, "123456"));

        _policy.Verify(p => p.AuthorizeAsync(new RegistrationRequest(Uuid, "123456", Caller), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Test]
    public async Task Accepted_put_answers_an_r_triple_with_a_current_cookie()
    {
        Accept();

        var response = await HandleAsync(Put(Uuid, "123456"));

        Assert.That(response.StatusCode, Is.EqualTo(200));
        var (host, port, cookie) = ParseTriple(response.Body);
        Assert.That(host, Is.EqualTo("relay.example"));
        Assert.That(port, Is.EqualTo(BoundPort));
        Assert.That(cookie, Does.StartWith("R"));
        Assert.That(_broker.IsCurrent(cookie[1..]), Is.True);
        Assert.That(_broker.TryGetInitiatorCookie(Uuid, out var current) ? current : null, Is.EqualTo(RendezvousCookies.InitiatorValueFor(cookie[1..])));
    }

    [Test]
    public void Every_answer_is_json()
    {
        Assert.That(RegistrarResponse.ContentType, Is.EqualTo("application/json"));
    }

    [Test]
    public async Task Get_answers_an_i_triple_with_the_initiator_value_derived_from_the_r_value()
    {
        Accept();
        var registered = ParseTriple((await HandleAsync(Put(Uuid, "123456"))).Body).Cookie;

        var response = await HandleAsync(Get(Uuid));

        Assert.That(response.StatusCode, Is.EqualTo(200));
        var (host, port, cookie) = ParseTriple(response.Body);
        Assert.That(cookie, Is.EqualTo("I" + RendezvousCookies.InitiatorValueFor(registered[1..])));
        Assert.That(cookie[1..], Is.Not.EqualTo(registered[1..]), "the lookup must not reveal the R value");
        Assert.That(host, Is.EqualTo("relay.example"));
        Assert.That(port, Is.EqualTo(BoundPort));
    }

    [Test]
    public async Task Get_does_not_ask_the_policy()
    {
        _broker.Register(Uuid);

        await HandleAsync(Get(Uuid));

        _policy.VerifyNoOtherCalls();
    }

    [Test]
    public async Task Get_of_an_unregistered_uuid_answers_200_not_registered()
    {
        var response = await HandleAsync(Get(Uuid));

        Assert.That(response.StatusCode, Is.EqualTo(200));
        AssertError(response.Body, permanent: false, "not registered");
    }

    [TestCase("GET")]
    [TestCase("PUT")]
    [TestCase("POST")]
    [TestCase("DELETE")]
    public async Task Missing_uuid_answers_404_permanent_whatever_the_method(string method)
    {
        var response = await HandleAsync(new RegistrarRequest(method, null, method == "PUT" ? "123456" : null, Caller, "relay.example"));

        Assert.That(response.StatusCode, Is.EqualTo(404));
        AssertError(response.Body, permanent: true, diagnostic: null);
        _policy.VerifyNoOtherCalls();
    }

    [TestCase("GET", null)]
    [TestCase("PUT", "123456")]
    [TestCase("GET", "123456")]
    [TestCase("POST", null)]
    public async Task Empty_uuid_answers_404_before_the_method_is_checked(string method, string? code)
    {
        var response = await HandleAsync(new RegistrarRequest(method, string.Empty, code, Caller, "relay.example"));

        Assert.That(response.StatusCode, Is.EqualTo(404));
        AssertError(response.Body, permanent: true, diagnostic: null);
        Assert.That(response.Allow, Is.Null);
    }

    [Test]
    public async Task Get_with_response_answers_405_allow_put()
    {
        var response = await HandleAsync(new RegistrarRequest("GET", Uuid, "123456", Caller, "relay.example"));

        Assert.That(response.StatusCode, Is.EqualTo(405));
        Assert.That(response.Allow, Is.EqualTo("PUT"));
        AssertError(response.Body, permanent: true, "expecting PUT not GET");
        _policy.VerifyNoOtherCalls();
    }

    [Test]
    public async Task Put_without_response_answers_405_allow_get()
    {
        var response = await HandleAsync(new RegistrarRequest("PUT", Uuid, null, Caller, "relay.example"));

        Assert.That(response.StatusCode, Is.EqualTo(405));
        Assert.That(response.Allow, Is.EqualTo("GET"));
        AssertError(response.Body, permanent: true, "expecting GET not PUT");
        Assert.That(_broker.RegistrationCount, Is.Zero);
    }

    [Test]
    public async Task Post_without_response_answers_405_allow_get()
    {
        var response = await HandleAsync(new RegistrarRequest("POST", Uuid, null, Caller, "relay.example"));

        Assert.That(response.StatusCode, Is.EqualTo(405));
        Assert.That(response.Allow, Is.EqualTo("GET"));
        AssertError(response.Body, permanent: true, "expecting GET not POST");
    }

    [Test]
    public async Task Post_with_response_answers_405_allow_put_without_asking_the_policy()
    {
        var response = await HandleAsync(new RegistrarRequest("POST", Uuid, "123456", Caller, "relay.example"));

        Assert.That(response.StatusCode, Is.EqualTo(405));
        Assert.That(response.Allow, Is.EqualTo("PUT"));
        AssertError(response.Body, permanent: true, "expecting PUT not POST");
        _policy.VerifyNoOtherCalls();
    }

    [Test]
    public async Task Methods_are_case_sensitive()
    {
        var response = await HandleAsync(new RegistrarRequest("get", Uuid, null, Caller, "relay.example"));

        Assert.That(response.StatusCode, Is.EqualTo(405));
    }

    [Test]
    public async Task Rejected_put_answers_200_invalid_request_and_registers_nothing()
    {
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Reject());

        var response = await HandleAsync(Put(Uuid, "000000"));

        Assert.That(response.StatusCode, Is.EqualTo(200));
        Assert.That(response.Body, Is.EqualTo("""{"error":{"permanent":false,"diagnostic":"invalid request"}}"""));
        Assert.That(_broker.RegistrationCount, Is.Zero);
    }

    [Test]
    public async Task Rejections_for_different_uuids_and_codes_are_indistinguishable()
    {
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Reject());

        var unknown = await HandleAsync(Put("unknown-uuid", "123456"));
        var wrongCode = await HandleAsync(Put(Uuid, "999999"));
        var malformed = await HandleAsync(Put(Uuid, "12"));

        Assert.That(new[] { wrongCode, malformed }, Is.All.EqualTo(unknown));
    }

    [Test]
    public async Task Rejected_put_leaves_a_previous_registration_current()
    {
        var cookie = _broker.Register(Uuid);
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Reject());

        await HandleAsync(Put(Uuid, "000000"));

        Assert.That(_broker.IsCurrent(cookie), Is.True);
    }

    [Test]
    public async Task Throttled_put_answers_429_with_retry_after_and_a_non_permanent_error()
    {
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Throttle(TimeSpan.FromSeconds(30)));

        var response = await HandleAsync(Put(Uuid, "123456"));

        Assert.That(response.StatusCode, Is.EqualTo(429));
        Assert.That(response.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(response.RetryAfterSeconds, Is.EqualTo("30"));
        AssertError(response.Body, permanent: false, diagnostic: null);
        Assert.That(_broker.RegistrationCount, Is.Zero);
    }

    [TestCase(0.0, "1")]
    [TestCase(0.2, "1")]
    [TestCase(1.0, "1")]
    [TestCase(1.001, "2")]
    [TestCase(29.5, "30")]
    public void Retry_after_seconds_round_up_and_are_at_least_one(double seconds, string expected)
    {
        var response = new RegistrarResponse(429, "{}", RetryAfter: TimeSpan.FromSeconds(seconds));

        Assert.That(response.RetryAfterSeconds, Is.EqualTo(expected));
    }

    [Test]
    public void Retry_after_seconds_is_absent_without_retry_after()
    {
        Assert.That(new RegistrarResponse(200, "{}").RetryAfterSeconds, Is.Null);
    }

    [Test]
    public async Task Throttle_with_a_fraction_of_a_second_answers_whole_seconds_rounded_up()
    {
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Throttle(TimeSpan.FromMilliseconds(1200)));

        var response = await HandleAsync(Put(Uuid, "123456"));

        Assert.That(response.RetryAfterSeconds, Is.EqualTo("2"));
    }

    [Test]
    public async Task Host_is_the_public_host_when_set()
    {
        Accept();
        _registrarOptions.PublicHost = "rendezvous.example.org";

        var response = await HandleAsync(Put(Uuid, "123456"));

        Assert.That(ParseTriple(response.Body).Host, Is.EqualTo("rendezvous.example.org"));
    }

    [Test]
    public async Task Host_is_the_request_host_when_no_public_host_is_set()
    {
        _broker.Register(Uuid);

        var response = await HandleAsync(new RegistrarRequest("GET", Uuid, null, Caller, "10.1.2.3"));

        Assert.That(ParseTriple(response.Body).Host, Is.EqualTo("10.1.2.3"));
    }

    [Test]
    public async Task Blank_public_host_falls_back_to_the_request_host()
    {
        _broker.Register(Uuid);
        _registrarOptions.PublicHost = "  ";

        var response = await HandleAsync(Get(Uuid));

        Assert.That(ParseTriple(response.Body).Host, Is.EqualTo("relay.example"));
    }

    [Test]
    public async Task Host_falls_back_to_loopback_without_public_or_request_host()
    {
        _broker.Register(Uuid);

        var response = await HandleAsync(new RegistrarRequest("GET", Uuid, null, Caller, null));

        Assert.That(ParseTriple(response.Body).Host, Is.EqualTo("127.0.0.1"));
    }

    [Test]
    public async Task Port_is_the_public_port_when_set()
    {
        _broker.Register(Uuid);
        _registrarOptions.PublicPort = 443;

        var response = await HandleAsync(Get(Uuid));

        Assert.That(ParseTriple(response.Body).Port, Is.EqualTo(443));
    }

    [Test]
    public async Task Port_is_the_bound_rendezvous_port_when_no_public_port_is_set()
    {
        Accept();

        var response = await HandleAsync(Put(Uuid, "123456"));

        Assert.That(ParseTriple(response.Body).Port, Is.EqualTo(BoundPort));
    }

    [Test]
    public async Task Reregistration_invalidates_the_old_cookie()
    {
        Accept();
        var first = ParseTriple((await HandleAsync(Put(Uuid, "111111"))).Body).Cookie[1..];

        var second = ParseTriple((await HandleAsync(Put(Uuid, "222222"))).Body).Cookie[1..];

        Assert.That(second, Is.Not.EqualTo(first));
        Assert.That(_broker.IsCurrent(first), Is.False);
        Assert.That(_broker.IsCurrent(second), Is.True);
        Assert.That(ParseTriple((await HandleAsync(Get(Uuid))).Body).Cookie, Is.EqualTo("I" + RendezvousCookies.InitiatorValueFor(second)));
    }

    [Test]
    public async Task Cancellation_is_passed_to_the_policy()
    {
        using var cancel = new CancellationTokenSource();
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), cancel.Token))
            .ReturnsAsync(RegistrationDecision.Accept());

        await _service.HandleAsync(Put(Uuid, "123456"), cancel.Token).AsTask().WaitAsync(TestTimeouts.Short);

        _policy.Verify(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), cancel.Token), Times.Once);
    }

    [Test]
    public void Error_body_has_the_documented_shape_and_escapes_the_diagnostic()
    {
        AssertError(RegistrarService.ErrorBody(permanent: true, "x \"quoted\""), permanent: true, "x \"quoted\"");
    }

    private static RegistrarRequest Put(string uuid, string code) => new("PUT", uuid, code, Caller, "relay.example");

    private static RegistrarRequest Get(string uuid) => new("GET", uuid, null, Caller, "relay.example");

    private static (string Host, int Port, string Cookie) ParseTriple(string body)
    {
        using var json = JsonDocument.Parse(body);
        Assert.That(json.RootElement.TryGetProperty("result", out var result), Is.True, body);
        return (result.GetProperty("host").GetString()!, result.GetProperty("port").GetInt32(), result.GetProperty("cookie").GetString()!);
    }

    private static void AssertError(string body, bool permanent, string? diagnostic)
    {
        using var json = JsonDocument.Parse(body);
        Assert.That(json.RootElement.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "error" }), body);
        var error = json.RootElement.GetProperty("error");
        Assert.That(error.GetProperty("permanent").GetBoolean(), Is.EqualTo(permanent), body);
        Assert.That(error.GetProperty("diagnostic").ValueKind, Is.EqualTo(JsonValueKind.String), body);
        if (diagnostic is not null)
        {
            Assert.That(error.GetProperty("diagnostic").GetString(), Is.EqualTo(diagnostic), body);
        }
    }

    [Test]
    public async Task Refused_registrations_are_counted_against_the_uuid_and_accepted_ones_as_registrations()
    {
        _policy.SetupSequence(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Reject())
            .ReturnsAsync(RegistrationDecision.Throttle(TimeSpan.FromSeconds(1)))
            .ReturnsAsync(RegistrationDecision.Accept());

        await HandleAsync(Put(Uuid.ToUpperInvariant(), "000000"));
        await HandleAsync(Put(Uuid, "000000"));
        await HandleAsync(Put(Uuid, "123456"));

        var activity = _broker.Activity.Get(Uuid);
        Assert.That((activity.Failures, activity.Registrations, activity.Registered), Is.EqualTo((2L, 1L, true)));
    }

    [Test]
    public async Task Refusals_for_text_that_is_not_a_uuid_are_not_kept()
    {
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Reject());

        await HandleAsync(Put("not-a-uuid", "000000"));

        Assert.That(_broker.Activity.Snapshot(), Is.Empty);
    }

    private void Accept() =>
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Accept());

    private async Task<RegistrarResponse> HandleAsync(RegistrarRequest request) =>
        await _service.HandleAsync(request).AsTask().WaitAsync(TestTimeouts.Short);
}
