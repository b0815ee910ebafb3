using Moq;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Security.Tests.Policy;

/// <summary>
/// A store or a failure counter that fails (a database removed while serving, a shared store down): the attempt is
/// answered unavailable (the registrar's 503 with Retry-After), promptly, and is not counted as a failure.
/// </summary>
public sealed partial class TotpRegistrationPolicyTests
{
    [Test]
    public async Task Store_failure_answers_unavailable_and_is_not_counted()
    {
        TotpRegistrationPolicy policy = CreatePolicy();
        Assert.That((await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout)).Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
        _time.Advance(TimeSpan.FromSeconds(30));
        foreach (string suffix in new[] { string.Empty, "-wal", "-shm" })
        {
            File.Delete(_store.DatabasePath + suffix);
        }

        var outcomes = new List<RegistrationOutcome>();
        for (int i = 0; i < new TotpSecurityOptions().MaxFailuresPerUuid + 1; i++)
        {
            outcomes.Add((await AuthorizeAsync(policy, Uuid, Code(), OtherAddress).WaitAsync(Timeout)).Outcome);
        }

        Assert.That(outcomes, Is.All.EqualTo(RegistrationOutcome.Unavailable));
        Assert.That(policy.TrackedKeyCount, Is.Zero, "nothing judged, nothing counted");
    }

    [Test]
    public async Task A_store_that_fails_after_the_code_is_verified_answers_unavailable()
    {
        var store = new Mock<SecretStore>();
        store.Setup(s => s.TryGetAsync(Uuid, It.IsAny<CancellationToken>())).ReturnsAsync(new SecretEntry(Uuid, Secret, 30, 6, _time.GetUtcNow()));
        store.Setup(s => s.TryAdvanceLastStepAsync(Uuid, It.IsAny<long>(), It.IsAny<CancellationToken>())).ThrowsAsync(new IOException("disk gone"));
        TotpRegistrationPolicy policy = CreatePolicy(store.Object);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Unavailable));
        Assert.That(policy.TrackedKeyCount, Is.Zero);
    }

    [TestCase("uuid")]
    [TestCase("address")]
    public async Task A_failure_counter_that_fails_answers_unavailable_without_looking_the_code_up(string failing)
    {
        var store = new Mock<SecretStore>(MockBehavior.Strict);
        var memory = new MemoryFailureCounterFactory(_time);
        var broken = new Mock<IFailureCounter>();
        broken.Setup(c => c.TryReserveAsync(It.IsAny<string>(), It.IsAny<CancellationToken>())).ThrowsAsync(new TimeoutException("store down"));
        broken.Setup(c => c.ReleaseAsync(It.IsAny<FailureSlot>(), It.IsAny<CancellationToken>())).ThrowsAsync(new TimeoutException("store down"));
        var factory = new Mock<IFailureCounterFactory>();
        factory.Setup(f => f.Create(It.IsAny<string>(), It.IsAny<int>(), It.IsAny<TimeSpan>(), It.IsAny<int>()))
            .Returns((string name, int limit, TimeSpan window, int maxKeys) => name == failing ? broken.Object : memory.Create(name, limit, window, maxKeys));
        var policy = new TotpRegistrationPolicy(store.Object, Microsoft.Extensions.Options.Options.Create(new TotpSecurityOptions()), _time, factory.Object, null, null);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Unavailable));
    }

    [Test]
    public async Task An_accepted_code_stays_accepted_when_giving_its_slots_back_fails()
    {
        var memory = new MemoryFailureCounterFactory(_time);
        var factory = new Mock<IFailureCounterFactory>();
        factory.Setup(f => f.Create(It.IsAny<string>(), It.IsAny<int>(), It.IsAny<TimeSpan>(), It.IsAny<int>()))
            .Returns((string name, int limit, TimeSpan window, int maxKeys) =>
            {
                IFailureCounter inner = memory.Create(name, limit, window, maxKeys);
                var counter = new Mock<IFailureCounter>();
                counter.Setup(c => c.TryReserveAsync(It.IsAny<string>(), It.IsAny<CancellationToken>()))
                    .Returns((string key, CancellationToken ct) => inner.TryReserveAsync(key, ct));
                counter.Setup(c => c.ReleaseAsync(It.IsAny<FailureSlot>(), It.IsAny<CancellationToken>())).ThrowsAsync(new TimeoutException("store down"));
                counter.Setup(c => c.ClearAsync(It.IsAny<string>(), It.IsAny<CancellationToken>())).ThrowsAsync(new TimeoutException("store down"));
                return counter.Object;
            });
        var policy = new TotpRegistrationPolicy(_store, Microsoft.Extensions.Options.Options.Create(new TotpSecurityOptions()), _time, factory.Object, null, null);

        RegistrationDecision decision = await AuthorizeAsync(policy, Uuid, Code()).WaitAsync(Timeout);

        Assert.That(decision.Outcome, Is.EqualTo(RegistrationOutcome.Accepted));
    }
}
