using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Moq;
using OtpNet;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>
/// A registrar that keeps refusing the code (wrong secret or UUID, skewed clock): the agent says what to
/// check and backs off to minutes. The agent's clock is fake; the registrar's <c>Date</c> header is real.
/// </summary>
public sealed class HiddenServerAgentRefusalTests
{
    private const string PlainRefusal = "The registrar refused: invalid request (HTTP 200).";

    /// <summary>A moment 10 s into a 30 s TOTP step, <paramref name="offset"/> from now.</summary>
    private static DateTimeOffset TenSecondsIntoAStep(TimeSpan offset)
    {
        var now = (DateTimeOffset.UtcNow + offset).ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds((now / 30 * 30) + 10);
    }

    /// <summary>A registrar policy that refuses while <paramref name="refuse"/> says so and records when it was asked (by <paramref name="time"/>).</summary>
    private static Mock<IRegistrationPolicy> Policy(TimeProvider time, ConcurrentQueue<DateTimeOffset> calls, Func<bool> refuse)
    {
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(() =>
            {
                calls.Enqueue(time.GetUtcNow());
                return ValueTask.FromResult(refuse() ? RegistrationDecision.Reject() : RegistrationDecision.Accept());
            });
        return policy;
    }

    /// <summary>Waits until the registrar has been asked <paramref name="count"/> times and the agent waits for its next try.</summary>
    private static Task WaitForAttemptAsync(RunningAgent agent, ConcurrentQueue<DateTimeOffset> calls, int count) =>
        ClientTestKit.WaitUntilAsync(
            () => calls.Count == count && agent.Agent.Status.NextAttempt is { } next && next > calls.Last(),
            $"attempt {count} is refused and the next one is scheduled");

    [Test]
    public async Task Repeated_refusals_say_what_to_check_and_back_off_to_minutes()
    {
        var time = new TimerWatchingTimeProvider(TenSecondsIntoAStep(TimeSpan.Zero));
        var calls = new ConcurrentQueue<DateTimeOffset>();
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(Policy(time, calls, () => true).Object));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);

        var errors = new List<string?>();
        var waits = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 8; attempt++)
        {
            await WaitForAttemptAsync(agent, calls, attempt);
            var status = agent.Agent.Status;
            errors.Add(status.LastError);
            waits.Add(status.NextAttempt!.Value - calls.Last());

            // Just before the scheduled time nothing is sent (the agent waits on a timer due at it); at it, the next attempt is.
            var wait = await time.WaitForTimerDueAtAsync(status.NextAttempt.Value, $"the agent's wait before attempt {attempt + 1}");
            time.SetUtcNow(status.NextAttempt.Value - TimeSpan.FromMilliseconds(1));
            Assert.That(wait.Fired, Is.False, $"the wait before attempt {attempt + 1} ended early");
            Assert.That(calls, Has.Count.EqualTo(attempt), $"attempt {attempt + 1} came before its time");
            time.SetUtcNow(status.NextAttempt.Value);
        }

        var total = calls.Last() - calls.First();
        Assert.Multiple(() =>
        {
            Assert.That(errors[0], Is.EqualTo(PlainRefusal));
            Assert.That(errors[1], Is.EqualTo(PlainRefusal));
            Assert.That(waits[0], Is.EqualTo(TimeSpan.FromSeconds(20 + 2)), "first retry: the next step's start");
            Assert.That(waits[1], Is.EqualTo(TimeSpan.FromSeconds(30)), "second retry: the step after");
            Assert.That(errors[2], Does.StartWith("The registrar refused: invalid request (HTTP 200), 3 times in a row."));
            Assert.That(errors[2], Does.Contain($"the UUID {identity.Uuid} and its secret").And.Contain("config file").And.Contain("clock"));
            Assert.That(waits[2], Is.InRange(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1)), "then minutes");
            Assert.That(waits[3], Is.InRange(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2)));
            Assert.That(waits[4], Is.InRange(TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(4)));
            Assert.That(waits.Skip(5), Is.All.InRange(TimeSpan.FromMinutes(2.5), TimeSpan.FromMinutes(5)), "MaxRefusalBackoff (5 min) caps it");
            Assert.That(total, Is.GreaterThan(TimeSpan.FromMinutes(10)), "8 attempts take more than 10 minutes, far below any throttle");
        });
    }

    [Test]
    public async Task A_success_resets_the_count_of_refusals()
    {
        var time = new FakeTimeProvider(TenSecondsIntoAStep(TimeSpan.Zero));
        var calls = new ConcurrentQueue<DateTimeOffset>();
        var refuse = true;
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(Policy(time, calls, () => Volatile.Read(ref refuse)).Object));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await WaitForAttemptAsync(agent, calls, attempt);
            if (attempt == 3)
            {
                Volatile.Write(ref refuse, false);
            }

            time.SetUtcNow(agent.Agent.Status.NextAttempt!.Value);
        }

        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.Registrations == 1 && server.Broker.ParkedCount == 1, "registered");
        var registered = agent.Agent.Status;
        Volatile.Write(ref refuse, true);
        server.Broker.Unregister(identity.Uuid);

        // Attempt 5 reuses the accepted step's code; refused, attempt 6 tries the next step's at once; refused too.
        await WaitForAttemptAsync(agent, calls, 6);
        var refusedAgain = agent.Agent.Status;

        Assert.Multiple(() =>
        {
            Assert.That(registered.LastError, Is.Null);
            Assert.That(registered.NextAttempt, Is.Null);
            Assert.That(refusedAgain.LastError, Is.EqualTo(PlainRefusal), "counted from one again");
            Assert.That(refusedAgain.NextAttempt!.Value - calls.Last(), Is.LessThanOrEqualTo(TimeSpan.FromSeconds(32)), "retried at the next step, not minutes later");
        });
    }

    [TestCase(-10)]
    [TestCase(10)]
    [TestCase(0)]
    public async Task Repeated_refusals_report_how_far_this_clock_is_from_the_registrars(int minutes)
    {
        // The agent's clock is off by `minutes` from the real one, which the registrar's Date header gives.
        var skew = TimeSpan.FromMinutes(minutes);
        var time = new FakeTimeProvider(TenSecondsIntoAStep(skew - TimeSpan.FromSeconds(90)));
        var calls = new ConcurrentQueue<DateTimeOffset>();
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(Policy(time, calls, () => true).Object));
        var identity = new HiddenServerIdentity(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(server, identity), time: time);
        await WaitForAttemptAsync(agent, calls, 1);
        time.SetUtcNow(agent.Agent.Status.NextAttempt!.Value);

        // The third attempt happens with the agent's clock exactly `skew` off the real one (a minute or
        // more after the second attempt, so in a later step).
        await WaitForAttemptAsync(agent, calls, 2);
        time.SetUtcNow(DateTimeOffset.UtcNow + skew);
        await WaitForAttemptAsync(agent, calls, 3);
        var error = agent.Agent.Status.LastError;

        Assert.That(error, Does.StartWith("The registrar refused: invalid request (HTTP 200), 3 times in a row."));
        if (minutes == 0)
        {
            Assert.That(error, Does.Contain("this machine's clock agrees with the registrar's within 5 s").And.Contain("the UUID"));
        }
        else
        {
            Assert.That(error, Does.Match($@"This machine's clock is (9 min 5\d|10 min \d) s {(minutes < 0 ? "behind" : "ahead of")} the registrar's \(here "));
            Assert.That(error, Does.Contain("set the clock right").And.Contain("the UUID"));
        }
    }
}
