using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

/// <summary>
/// Registration over real HTTPS with the real TOTP policy and SQLite store. A fake clock drives TOTP time;
/// codes are computed with Otp.NET at the same time. Secrets are added while the server runs.
/// </summary>
public sealed partial class TotpRegistrationTests
{
    private const string InvalidRequest = """{"error":{"permanent":false,"diagnostic":"invalid request"}}""";

    private static readonly TotpSecurityOptions Defaults = new();

    private FakeTimeProvider _time = null!;
    private RendezvousTestServer _server = null!;
    private HttpClient _registrar = null!;
    private SqliteSecretStore _store = null!;

    [SetUp]
    public async Task StartServerAsync()
    {
        _time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        _server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), time: _time);
        _registrar = _server.CreateRegistrarClient();
        _store = SqliteSecretStore.ForDataDirectory(_server.DataDirectory);
    }

    [TearDown]
    public async Task StopServerAsync()
    {
        _registrar.Dispose();
        await _server.DisposeAsync();
    }

    private async Task<SecretEntry> AddSecretAsync(int digits = SecretFormat.DefaultDigits, int step = SecretFormat.DefaultStep)
    {
        var entry = new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), step, digits, _time.GetUtcNow());
        await _store.AddAsync(entry).WaitAsync(TestTimeouts.Short);
        return entry;
    }

    /// <summary>The entry's code at the fake clock's time, moved by <paramref name="stepsFromNow"/> steps.</summary>
    private string Code(SecretEntry entry, int stepsFromNow = 0) =>
        new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, entry.Digits)
            .ComputeTotp(_time.GetUtcNow().UtcDateTime.AddSeconds((double)stepsFromNow * entry.Step));

    /// <summary>A code of the right length that is none of the accepted ones.</summary>
    private string WrongCode(SecretEntry entry)
    {
        var accepted = new[] { Code(entry, -1), Code(entry), Code(entry, 1) };
        for (var n = 0; ; n++)
        {
            var candidate = n.ToString(CultureInfo.InvariantCulture).PadLeft(entry.Digits, '0');
            if (!accepted.Contains(candidate))
            {
                return candidate;
            }
        }
    }

    private static void AssertInvalidRequest(RegistrarReply reply)
    {
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.BodyBytes, Is.EqualTo(Encoding.UTF8.GetBytes(InvalidRequest)), reply.Body);
        });
    }

    private static void AssertThrottled(RegistrarReply reply)
    {
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.TooManyRequests), reply.Body);
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(reply.RetryAfter, Does.Match("^[0-9]+$"));
            Assert.That(int.Parse(reply.RetryAfter!, CultureInfo.InvariantCulture), Is.InRange(1, (int)Defaults.FailureWindow.TotalSeconds));
            Assert.That(reply.IsError(permanent: false), Is.True, reply.Body);
        });
    }

    [Test]
    public async Task A_correct_code_answers_an_R_triple_naming_the_relay()
    {
        var entry = await AddSecretAsync();

        var reply = await _registrar.RegisterAsync(entry.Uuid, Code(entry));

        var triple = reply.Triple;
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.ContentType, Is.EqualTo("application/json"));
            Assert.That(triple.Host, Is.EqualTo("127.0.0.1"));
            Assert.That(triple.Port, Is.EqualTo(_server.RelayEndPoint.Port));
            Assert.That(triple.Cookie, Does.StartWith("R"));
        });
    }

    [Test]
    public async Task A_secret_added_while_the_server_runs_takes_effect_at_once()
    {
        var entry = new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, _time.GetUtcNow());
        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, Code(entry)));

        await _store.AddAsync(entry).WaitAsync(TestTimeouts.Short);
        _time.Advance(TimeSpan.FromSeconds(entry.Step));

        Assert.That((await _registrar.RegisterAsync(entry.Uuid, Code(entry))).Triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public async Task A_wrong_code_answers_invalid_request()
    {
        var entry = await AddSecretAsync();

        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, WrongCode(entry)));
    }

    [Test]
    public async Task An_unknown_uuid_answers_invalid_request()
    {
        var entry = new SecretEntry(Guid.NewGuid().ToString(), SecretFormat.CreateRandomSecret(), SecretFormat.DefaultStep, SecretFormat.DefaultDigits, _time.GetUtcNow());

        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, Code(entry)));
    }

    [Test]
    public async Task A_uuid_that_is_not_a_uuid_answers_invalid_request()
    {
        AssertInvalidRequest(await _registrar.RegisterAsync("not-a-uuid", "123456"));
    }

    [TestCase("abcdef")]
    [TestCase("12a456")]
    [TestCase("12345 ")]
    [TestCase("+12345")]
    public async Task A_malformed_response_answers_invalid_request(string response)
    {
        var entry = await AddSecretAsync();

        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, response));
    }

    [Test]
    public async Task A_response_of_five_digits_answers_invalid_request_even_when_it_is_a_prefix_of_the_code()
    {
        var entry = await AddSecretAsync();

        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, Code(entry)[..5]));
    }

    [Test]
    public async Task A_replayed_code_answers_invalid_request()
    {
        var entry = await AddSecretAsync();
        var code = Code(entry);
        Assert.That((await _registrar.RegisterAsync(entry.Uuid, code)).Triple.Cookie, Does.StartWith("R"));

        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, code));
    }

    [Test]
    public async Task A_replayed_code_leaves_the_current_registration_in_place()
    {
        var entry = await AddSecretAsync();
        var code = Code(entry);
        var registered = (await _registrar.RegisterAsync(entry.Uuid, code)).Triple;

        await _registrar.RegisterAsync(entry.Uuid, code);

        Assert.That((await _registrar.LookUpAsync(entry.Uuid)).Triple.Cookie, Is.EqualTo(registered.InitiatorCookie));
    }

    [Test]
    public async Task Every_refusal_has_a_byte_identical_body()
    {
        var entry = await AddSecretAsync();
        var code = Code(entry);
        await _registrar.RegisterAsync(entry.Uuid, code);
        var unknown = Guid.NewGuid().ToString();

        var replies = new[]
        {
            await _registrar.RegisterAsync(entry.Uuid, WrongCode(entry)),
            await _registrar.RegisterAsync(unknown, code),
            await _registrar.RegisterAsync(entry.Uuid, "abcdef"),
            await _registrar.RegisterAsync(entry.Uuid, "12345"),
            await _registrar.RegisterAsync(entry.Uuid, code),
        };

        Assert.That(replies.Select(r => r.Body).Distinct(), Is.EqualTo(new[] { InvalidRequest }));
        Assert.That(replies.Select(r => (r.Status, r.ContentType)).Distinct().Count(), Is.EqualTo(1));
    }

    [TestCase(-1)]
    [TestCase(1)]
    public async Task A_code_from_the_neighbouring_step_is_accepted(int stepsFromNow)
    {
        var entry = await AddSecretAsync();

        var reply = await _registrar.RegisterAsync(entry.Uuid, Code(entry, stepsFromNow));

        Assert.That(reply.Triple.Cookie, Does.StartWith("R"));
    }

    [TestCase(-2)]
    [TestCase(2)]
    public async Task A_code_two_steps_off_is_rejected(int stepsFromNow)
    {
        var entry = await AddSecretAsync();
        var code = Code(entry, stepsFromNow);
        Assume.That(code, Is.Not.AnyOf(Code(entry, -1), Code(entry), Code(entry, 1)), "codes of different steps collided");

        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, code));
    }

    [TestCase(6, 30)]
    [TestCase(8, 30)]
    [TestCase(6, 60)]
    [TestCase(8, 60)]
    [TestCase(7, 45)]
    public async Task Entries_of_any_digits_and_step_register_with_their_own_codes(int digits, int step)
    {
        var entry = await AddSecretAsync(digits, step);
        var code = Code(entry);
        Assert.That(code, Has.Length.EqualTo(digits));

        var reply = await _registrar.RegisterAsync(entry.Uuid, code);

        Assert.That(reply.Triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public async Task A_six_digit_code_is_refused_for_an_eight_digit_entry()
    {
        var entry = await AddSecretAsync(digits: 8);

        AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, Code(entry)[2..]));
    }

    [Test]
    public async Task Repeated_failures_for_one_uuid_are_throttled_with_retry_after()
    {
        var entry = await AddSecretAsync();
        for (var i = 0; i < Defaults.MaxFailuresPerUuid; i++)
        {
            AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, WrongCode(entry)));
        }

        // Even the right code is refused while throttled.
        AssertThrottled(await _registrar.RegisterAsync(entry.Uuid, Code(entry)));
    }

    [Test]
    public async Task Replays_of_an_accepted_code_are_refused_but_not_throttled_and_the_next_step_registers()
    {
        var entry = await AddSecretAsync();
        var code = Code(entry);
        Assert.That((await _registrar.RegisterAsync(entry.Uuid, code)).Triple.Cookie, Does.StartWith("R"));

        // A legacy hidden server retrying with the code it already used: refused, never 429.
        for (var i = 0; i < 2 * Defaults.MaxFailuresPerUuid; i++)
        {
            AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, code));
        }

        _time.Advance(TimeSpan.FromSeconds(entry.Step));

        Assert.That((await _registrar.RegisterAsync(entry.Uuid, Code(entry))).Triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public async Task Wrong_codes_are_still_throttled_after_replays()
    {
        var entry = await AddSecretAsync();
        var code = Code(entry);
        await _registrar.RegisterAsync(entry.Uuid, code);
        for (var i = 0; i < 2 * Defaults.MaxFailuresPerUuid; i++)
        {
            AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, code));
        }

        for (var i = 0; i < Defaults.MaxFailuresPerUuid; i++)
        {
            AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, WrongCode(entry)));
        }

        _time.Advance(TimeSpan.FromSeconds(entry.Step));
        AssertThrottled(await _registrar.RegisterAsync(entry.Uuid, Code(entry)));
    }

    [Test]
    public async Task Throttling_one_uuid_leaves_other_uuids_alone()
    {
        var entry = await AddSecretAsync();
        var other = await AddSecretAsync();
        for (var i = 0; i < Defaults.MaxFailuresPerUuid; i++)
        {
            await _registrar.RegisterAsync(entry.Uuid, WrongCode(entry));
        }

        Assert.That((await _registrar.RegisterAsync(other.Uuid, Code(other))).Triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public async Task A_throttled_uuid_registers_again_once_the_window_has_passed()
    {
        var entry = await AddSecretAsync();
        for (var i = 0; i < Defaults.MaxFailuresPerUuid; i++)
        {
            await _registrar.RegisterAsync(entry.Uuid, WrongCode(entry));
        }

        var throttled = await _registrar.RegisterAsync(entry.Uuid, Code(entry));
        AssertThrottled(throttled);

        _time.Advance(TimeSpan.FromSeconds(int.Parse(throttled.RetryAfter!, CultureInfo.InvariantCulture)) + TimeSpan.FromSeconds(1));

        Assert.That((await _registrar.RegisterAsync(entry.Uuid, Code(entry))).Triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public async Task Failures_from_one_address_across_many_uuids_are_throttled()
    {
        for (var i = 0; i < Defaults.MaxFailuresPerAddress; i++)
        {
            AssertInvalidRequest(await _registrar.RegisterAsync(Guid.NewGuid().ToString(), "123456"));
        }

        var entry = await AddSecretAsync();
        AssertThrottled(await _registrar.RegisterAsync(entry.Uuid, Code(entry)));
    }

    [Test]
    public async Task A_throttled_address_registers_again_once_the_window_has_passed()
    {
        for (var i = 0; i < Defaults.MaxFailuresPerAddress; i++)
        {
            await _registrar.RegisterAsync(Guid.NewGuid().ToString(), "123456");
        }

        var entry = await AddSecretAsync();
        AssertThrottled(await _registrar.RegisterAsync(entry.Uuid, Code(entry)));

        _time.Advance(Defaults.FailureWindow + TimeSpan.FromSeconds(1));

        Assert.That((await _registrar.RegisterAsync(entry.Uuid, Code(entry))).Triple.Cookie, Does.StartWith("R"));
    }

    [Test]
    public async Task A_hidden_server_that_registered_before_is_not_locked_out_by_guesses_from_another_address()
    {
        // Through the real registrar with the addresses HTTP would pass it (a loopback test sees only 127.0.0.1).
        var registrar = _server.Services.GetRequiredService<RegistrarService>();
        var entry = await AddSecretAsync();
        Task<RegistrarResponse> Register(string code, string address) =>
            registrar.HandleAsync(new RegistrarRequest("PUT", entry.Uuid, code, IPAddress.Parse(address), null)).AsTask().WaitAsync(TestTimeouts.Short);

        Assert.That((await Register(Code(entry), "2001:db8:1:2::10")).Body, Does.Contain("\"R"));
        for (var i = 0; i < Defaults.MaxFailuresPerUuid; i++)
        {
            Assert.That((await Register(WrongCode(entry), "198.51.100.7")).Body, Is.EqualTo(InvalidRequest));
        }

        _time.Advance(TimeSpan.FromSeconds(entry.Step));
        Assert.That((await Register(Code(entry), "203.0.113.3")).StatusCode, Is.EqualTo(429), "an unknown address");
        Assert.That((await Register(Code(entry), "2001:db8:1:2::99")).Body, Does.Contain("\"R"), "the hidden server's /64");
    }

    [Test]
    public async Task A_loopback_address_that_registered_before_is_still_limited_by_its_own_budget()
    {
        var entry = await AddSecretAsync();
        Assert.That((await _registrar.RegisterAsync(entry.Uuid, Code(entry))).Triple.Cookie, Does.StartWith("R"));
        for (var i = 0; i < Defaults.MaxFailuresPerUuid; i++)
        {
            AssertInvalidRequest(await _registrar.RegisterAsync(entry.Uuid, WrongCode(entry)));
        }

        _time.Advance(TimeSpan.FromSeconds(entry.Step));

        AssertThrottled(await _registrar.RegisterAsync(entry.Uuid, Code(entry)));
    }

    [Test]
    public async Task Concurrent_wrong_codes_over_https_are_checked_at_most_up_to_the_limit()
    {
        const int concurrent = 60;
        var entry = await AddSecretAsync();

        var replies = await Task.WhenAll(Enumerable.Range(0, concurrent)
            .Select(_ => Task.Run(() => _registrar.RegisterAsync(entry.Uuid, WrongCode(entry))))).WaitAsync(TestTimeouts.Long);

        Assert.Multiple(() =>
        {
            Assert.That(replies.Count(r => r.Body == InvalidRequest), Is.EqualTo(Defaults.MaxFailuresPerUuid));
            Assert.That(replies.Count(r => r.Status == HttpStatusCode.TooManyRequests), Is.EqualTo(concurrent - Defaults.MaxFailuresPerUuid));
        });
    }

    [Test]
    public async Task Lookups_are_not_throttled_or_authenticated()
    {
        for (var i = 0; i < Defaults.MaxFailuresPerAddress; i++)
        {
            await _registrar.RegisterAsync(Guid.NewGuid().ToString(), "123456");
        }

        var reply = await _registrar.LookUpAsync(Guid.NewGuid().ToString());

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.Body, Is.EqualTo("""{"error":{"permanent":false,"diagnostic":"not registered"}}"""));
        });
    }

    [Test]
    public async Task Register_park_look_up_and_initiate_splices_end_to_end()
    {
        var entry = await AddSecretAsync();
        var registered = (await _registrar.RegisterAsync(entry.Uuid, Code(entry))).Triple;
        var relay = new IPEndPoint(IPAddress.Parse(registered.Host), registered.Port);

        using var responder = await LoopbackClient.ConnectWithLineAsync(relay, registered.Cookie);
        using var cts = new CancellationTokenSource(TestTimeouts.Short);
        while (_server.Broker.ParkedCount == 0)
        {
            await Task.Delay(5, cts.Token);
        }

        var lookedUp = (await _registrar.LookUpAsync(entry.Uuid)).Triple;
        Assert.That(lookedUp.Cookie, Is.EqualTo(registered.InitiatorCookie));
        using var initiator = await LoopbackClient.ConnectWithLineAsync(new IPEndPoint(IPAddress.Parse(lookedUp.Host), lookedUp.Port), lookedUp.Cookie);

        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("+OK"));
        await initiator.SendAsync("hello hidden server\n");
        Assert.That(await responder.ReadLineAsync(), Is.EqualTo("hello hidden server"));
        await responder.SendAsync("hello mobile client\n");
        Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("hello mobile client"));
        initiator.ShutdownSend();
        Assert.That(await responder.ReadToEndAsync(), Is.Empty);
        responder.ShutdownSend();
        Assert.That(await initiator.ReadToEndAsync(), Is.Empty);
    }
}
