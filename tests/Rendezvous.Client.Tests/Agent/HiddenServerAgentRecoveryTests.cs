using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>
/// Which TOTP code the agent sends, and how soon it is back after a restart of the server, against our
/// server (previous, current and next step accepted, each step once) and against a model of the original
/// node-rendezvous (current step only, reusable within it). Fake clocks for the agent and the registrar.
/// </summary>
public sealed class HiddenServerAgentRecoveryTests
{
    public enum ServerKind
    {
        /// <summary>Our registrar: TOTP with replay protection, persisted across restarts.</summary>
        Ours,

        /// <summary>The original's registrar: the current step's code only, reusable within the step.</summary>
        Original,
    }

    /// <summary>Restarts in the same step as the last registration, or once the next step has begun.</summary>
    public enum RestartWindow
    {
        SameStep,
        LaterStep,
    }

    /// <summary>A moment <paramref name="seconds"/> into a 30 s TOTP step near now.</summary>
    private static DateTimeOffset IntoAStep(double seconds)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds(now / 30 * 30).AddSeconds(seconds);
    }

    [TestCase(ServerKind.Original, RestartWindow.SameStep, 5)]
    [TestCase(ServerKind.Original, RestartWindow.LaterStep, 5)]
    [TestCase(ServerKind.Ours, RestartWindow.SameStep, 30 + 5)]
    [TestCase(ServerKind.Ours, RestartWindow.LaterStep, 5)]
    public async Task Registers_again_within_the_bound_after_a_server_restart(ServerKind kind, RestartWindow window, int boundSeconds)
    {
        var time = new FakeTimeProvider(IntoAStep(10));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        var attempts = new ConcurrentQueue<RegistrationAttempt>();
        await using var server = kind == ServerKind.Original
            ? await RestartableServer.StartAsync(b => b.AddPolicy(OriginalServerModel.CurrentStepOnlyPolicy(identity, time, attempts).Object))
            : await RestartableServer.StartAsync(b => b.AddTotpSecurity(), time);
        if (kind == ServerKind.Ours)
        {
            await ClientTestKit.ProvisionAsync(server.Running, identity, time.GetUtcNow());
        }

        // The shipped backoffs, so that the bound is the one users get.
        var options = ClientTestKit.AgentOptions(server.Running, identity);
        options.InitialBackoff = new HiddenServerAgentOptions().InitialBackoff;
        options.MaxBackoff = new HiddenServerAgentOptions().MaxBackoff;
        var errors = new ConcurrentQueue<string>();
        await using var agent = RunningAgent.Start(options, time: time);
        agent.Agent.StatusChanged += (_, s) => errors.Enqueue(s.LastError ?? string.Empty);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 1 && server.Running.Broker.ParkedCount == 1, "registered and parked");

        await server.StopAsync();
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Parked == 0, "the agent notices the server is gone");
        if (window == RestartWindow.LaterStep)
        {
            time.Advance(TimeSpan.FromSeconds(25));
            await Task.Delay(TestTimeouts.Quiet);
        }

        await server.StartAgainAsync();
        var restarted = time.GetUtcNow();
        await ClientTestKit.AdvanceUntilAsync(
            time,
            () => agent.Agent.Status.Registrations == 2 && server.Current?.Broker.ParkedCount == 1,
            TimeSpan.FromSeconds(boundSeconds + 30),
            "the agent registers again and parks",
            () => agent.Agent.Status.NextAttempt);

        var recovery = agent.Agent.Status.LastRegistration!.Value - restarted;
        Assert.Multiple(() =>
        {
            Assert.That(recovery, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(boundSeconds)));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
            if (kind == ServerKind.Original)
            {
                Assert.That(attempts.Where(a => !a.Accepted), Is.Empty, "the original refused a code");
            }
            else if (window == RestartWindow.SameStep)
            {
                Assert.That(errors.Count(e => e.Contains("invalid request", StringComparison.Ordinal)), Is.EqualTo(1), "one replay refusal, then the next step's code at its start");
            }
        });
    }

    [Test]
    public async Task A_refused_code_does_not_poison_the_next_try_against_a_registrar_whose_clock_lags()
    {
        // The agent starts half a second into a step; the registrar's clock is 1 s behind, still in the step before.
        var time = new FakeTimeProvider(IntoAStep(0.5));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        var attempts = new ConcurrentQueue<RegistrationAttempt>();
        var policy = OriginalServerModel.CurrentStepOnlyPolicy(identity, time, attempts, lag: TimeSpan.FromSeconds(1));
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy.Object));
        var started = time.GetUtcNow();
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.NextAttempt is not null, "the first code is refused");

        await ClientTestKit.AdvanceUntilAsync(time, () => agent.Agent.Status.Registrations == 1, TimeSpan.FromSeconds(90), "the agent registers", () => agent.Agent.Status.NextAttempt);

        var seen = attempts.ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(seen.Select(a => a.Accepted), Is.EqualTo(new[] { false, true }), "one refusal, then the next step's code is accepted");
            Assert.That(agent.Agent.Status.LastRegistration!.Value - started, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(30 + 5)));
            Assert.That(agent.Agent.Status.LastError, Is.Null);
        });
    }

    [Test]
    public async Task Reregistering_within_a_step_reuses_its_code_and_a_registrar_that_allows_reuse_accepts_it()
    {
        var time = new FakeTimeProvider(IntoAStep(10));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        var attempts = new ConcurrentQueue<RegistrationAttempt>();
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(OriginalServerModel.CurrentStepOnlyPolicy(identity, time, attempts).Object));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 1 && server.Broker.ParkedCount == 1, "registered and parked");

        // The relay forgets the registration, as the original does when it restarts: the agent registers
        // again at once, in the same step, without the fake clock moving at all.
        server.Broker.Unregister(identity.Uuid);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 2 && server.Broker.ParkedCount == 1, "registered again and parked");

        Assert.Multiple(() =>
        {
            Assert.That(attempts.Select(a => a.Accepted), Is.EqualTo(new[] { true, true }));
            Assert.That(agent.Agent.Status.LastError, Is.Null);
        });
    }

    [Test]
    public async Task After_our_registrar_refuses_a_replayed_code_the_next_steps_code_registers_at_once()
    {
        var start = IntoAStep(10);
        var time = new TimerWatchingTimeProvider(start);
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddTotpSecurity(), time: time);
        var identity = await ClientTestKit.ProvisionAsync(server, time.GetUtcNow());
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 1 && server.Broker.ParkedCount == 1, "registered and parked");

        // Its relay forgot it (a node died, say): the agent registers again within the same step. Our registrar refuses
        // the reused code as a replay; the next step's code, within one step of skew, is accepted at once, with no
        // wait for the next step (the clock does not move here).
        server.Broker.Unregister(identity.Uuid);
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 2 && server.Broker.ParkedCount == 1, "registered again in the same step");

        Assert.Multiple(() =>
        {
            Assert.That(time.GetUtcNow(), Is.EqualTo(start), "no wait");
            Assert.That(agent.Agent.Status.LastError, Is.Null);
        });
    }
}
