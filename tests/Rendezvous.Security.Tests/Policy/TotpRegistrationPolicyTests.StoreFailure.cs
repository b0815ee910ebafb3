using Rendezvous.Protocol.Policy;

namespace Rendezvous.Security.Tests.Policy;

/// <summary>A store that fails (its database removed while serving): refused like a wrong code, and counted.</summary>
public sealed partial class TotpRegistrationPolicyTests
{
    [Test]
    public async Task Store_failure_is_a_refusal_that_counts_toward_throttling()
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

        Assert.That(outcomes, Is.EqualTo(Enumerable.Repeat(RegistrationOutcome.Rejected, outcomes.Count - 1).Append(RegistrationOutcome.Throttled)));
    }
}
