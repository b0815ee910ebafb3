using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Moq;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>How the agent registers: throttling, TOTP steps, and what it never logs. Fake clocks where time matters.</summary>
public sealed class HiddenServerAgentRegistrationTests
{
    /// <summary>A moment 10 s into a 30 s TOTP step, so a test has 20 s of fake time before the step changes.</summary>
    private static DateTimeOffset TenSecondsIntoAStep()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds((now / 30 * 30) + 10);
    }

    [Test]
    public async Task Throttled_registration_is_retried_only_after_retry_after()
    {
        var time = new TimerWatchingTimeProvider(TenSecondsIntoAStep());
        var calls = new ConcurrentQueue<DateTimeOffset>();
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(() =>
            {
                calls.Enqueue(time.GetUtcNow());
                return ValueTask.FromResult(RegistrationDecision.Throttle(TimeSpan.FromSeconds(7)));
            });
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy.Object));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);

        await ClientTestKit.WaitUntilAsync(() => !calls.IsEmpty && agent.Agent.Status.LastError is not null, "the first attempt is throttled");
        var retryWait = await time.WaitForTimerDueAtAsync(calls.First() + TimeSpan.FromSeconds(7), "the agent's wait for Retry-After");
        time.Advance(TimeSpan.FromSeconds(6.9));
        Assert.That(retryWait.Fired, Is.False, "the wait for Retry-After ended early");
        var beforeRetryAfter = calls.Count;
        time.Advance(TimeSpan.FromSeconds(0.1));
        await ClientTestKit.WaitUntilAsync(() => calls.Count >= 2, "the agent asks again after Retry-After");

        var at = calls.ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(beforeRetryAfter, Is.EqualTo(1), "asked again before Retry-After");
            Assert.That(at[1] - at[0], Is.EqualTo(TimeSpan.FromSeconds(7)));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registering));
            Assert.That(agent.Agent.Status.LastError, Does.Contain("too many failed attempts"));
        });
    }

    [Test]
    public async Task Secret_and_codes_never_appear_in_logs_or_status()
    {
        var codes = new ConcurrentQueue<string>();
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns((RegistrationRequest request, CancellationToken _) =>
            {
                codes.Enqueue(request.Response);
                return ValueTask.FromResult(codes.Count == 1 ? RegistrationDecision.Reject() : RegistrationDecision.Accept());
            });
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy.Object));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        using var logs = new LogCapture();
        var errors = new ConcurrentQueue<string>();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time, logs: logs);
        agent.Agent.StatusChanged += (_, s) => errors.Enqueue(s.LastError ?? string.Empty);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.NextAttempt is not null, "the first code is refused");
        time.SetUtcNow(agent.Agent.Status.NextAttempt!.Value);
        await agent.WaitParkedAsync();
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        Assert.That(await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [1]), Is.EqualTo(new byte[] { 1 }));
        await agent.StopAsync();

        var text = logs.AllText + "\n" + string.Join("\n", errors);
        Assert.Multiple(() =>
        {
            Assert.That(codes, Has.Count.EqualTo(2), "one refused, one accepted");
            Assert.That(logs.Records.Select(r => r.EventId.Name), Does.Contain("RegistrationFailed").And.Contain("Registered").And.Contain("SessionEnded"));
            Assert.That(text, Does.Not.Contain(identity.Base32Secret));
            Assert.That(text, Does.Not.Contain(identity.Base32Secret.TrimEnd('=')[..16]));
            Assert.That(text, Does.Not.Contain(Convert.ToHexString(identity.Secret)).IgnoreCase);
            Assert.That(text, Does.Not.Contain(Convert.ToBase64String(identity.Secret)));
            foreach (var code in codes)
            {
                Assert.That(text, Does.Not.Contain(code), "a TOTP code was logged");
            }
        });
    }

    [Test]
    public async Task Eight_digit_codes_with_a_60_second_step_register_when_provisioned_so()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await Rendezvous.Security.SqliteSecretStore.ForDataDirectory(server.DataDirectory)
            .AddAsync(new Rendezvous.Security.SecretEntry(identity.Uuid, identity.Secret, 60, 8, DateTimeOffset.UtcNow))
            .WaitAsync(TestTimeouts.Short);
        var options = ClientTestKit.AgentOptions(server, identity);
        options.Digits = 8;
        options.Step = 60;
        await using var agent = RunningAgent.Start(options);

        await agent.WaitParkedAsync();

        Assert.Multiple(() =>
        {
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
            Assert.That(agent.Agent.Status.LastError, Is.Null);
        });
    }

    [Test]
    public async Task Uuid_and_secret_are_accepted_in_the_forms_people_paste_them()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity());
        var identity = await ClientTestKit.ProvisionAsync(server);
        var options = ClientTestKit.AgentOptions(server, identity);
        options.Uuid = "{" + identity.Uuid.ToUpperInvariant() + "}";
        var base32 = identity.Base32Secret.TrimEnd('=').ToLowerInvariant();
        options.Secret = string.Join(" ", Enumerable.Range(0, (base32.Length + 3) / 4).Select(i => base32.Substring(i * 4, Math.Min(4, base32.Length - (i * 4)))));
        await using var agent = RunningAgent.Start(options);
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));
        await agent.WaitParkedAsync();

        var echoed = await ClientTestKit.RoundTripAsync(connector, identity.Uuid, [1]);

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo(new byte[] { 1 }));
            Assert.That(agent.Agent.Status.LastError, Is.Null);
        });
    }
}
