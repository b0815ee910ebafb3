using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>The default code source on its own: the current step's code, and after a refusal the next step's, 2 s in.</summary>
public sealed class TotpRegistrationCodeSourceTests
{
    private static readonly byte[] Secret = KeyGeneration.GenerateRandomKey(20);

    [Test]
    public async Task A_refused_code_of_a_step_never_accepted_waits_for_the_next_step()
    {
        var (stepStart, time, source, totp) = Start();

        var first = await source.GetCodeAsync(Uuid, CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Short);
        var delay = source.OnRefused(Uuid, first);
        var next = source.GetCodeAsync(Uuid, CancellationToken.None).AsTask();
        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(totp.ComputeTotp(stepStart.UtcDateTime)));
            Assert.That(delay, Is.EqualTo(TimeSpan.FromSeconds(22)), "the next step's start plus 2 s");
            Assert.That(next.IsCompleted, Is.False, "no code in the refused step");
        });

        time.Advance(TimeSpan.FromSeconds(22));

        Assert.That(await next.WaitAsync(TestTimeouts.Short), Is.EqualTo(totp.ComputeTotp(stepStart.AddSeconds(30).UtcDateTime)));
    }

    [Test]
    public async Task Registering_again_reuses_the_accepted_code_and_when_that_is_refused_tries_the_next_steps_code_at_once_once()
    {
        var (stepStart, time, source, totp) = Start();

        var first = await source.GetCodeAsync(Uuid, CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Short);
        source.OnAccepted(Uuid, first);
        var again = await source.GetCodeAsync(Uuid, CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Short);
        var replayDelay = source.OnRefused(Uuid, again);
        var ahead = await source.GetCodeAsync(Uuid, CancellationToken.None).AsTask().WaitAsync(TestTimeouts.Short);
        var aheadDelay = source.OnRefused(Uuid, ahead);
        var next = source.GetCodeAsync(Uuid, CancellationToken.None).AsTask();
        Assert.Multiple(() =>
        {
            Assert.That(again, Is.EqualTo(first), "the original accepts a code again within its step");
            Assert.That(replayDelay, Is.EqualTo(TimeSpan.Zero), "a registrar that refuses reuse: no wait");
            Assert.That(ahead, Is.EqualTo(totp.ComputeTotp(stepStart.AddSeconds(30).UtcDateTime)), "the next step's code, which one step of skew accepts");
            Assert.That(aheadDelay, Is.EqualTo(TimeSpan.FromSeconds(22)), "refused too: the next step's start plus 2 s");
            Assert.That(next.IsCompleted, Is.False, "one code ahead per step, no more");
        });

        time.Advance(TimeSpan.FromSeconds(22));

        Assert.That(await next.WaitAsync(TestTimeouts.Short), Is.EqualTo(totp.ComputeTotp(stepStart.AddSeconds(30).UtcDateTime)));
    }

    private const string Uuid = "6f1c2a9e-0b7d-4c1e-9a55-3f0e8d2b1c4a";

    private static (DateTimeOffset StepStart, FakeTimeProvider Time, TotpRegistrationCodeSource Source, Totp Totp) Start()
    {
        var stepStart = DateTimeOffset.FromUnixTimeSeconds((DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 30) * 30);
        var time = new FakeTimeProvider(stepStart + TimeSpan.FromSeconds(10));
        return (stepStart, time, new TotpRegistrationCodeSource(Base32Encoding.ToString(Secret), 30, 6, time), new Totp(Secret, 30, OtpHashMode.Sha1, 6));
    }

    [Test]
    public void Bad_values_are_refused_naming_them()
    {
        var secret = Base32Encoding.ToString(Secret);

        Assert.Multiple(() =>
        {
            Assert.That(() => new TotpRegistrationCodeSource("not base32!"), Throws.ArgumentException.With.Message.Contains("base32 of at least 10 bytes"));
            Assert.That(() => new TotpRegistrationCodeSource(secret, step: 0), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("The step is 0; it must be between 1 and 300 seconds."));
            Assert.That(() => new TotpRegistrationCodeSource(secret, digits: 9), Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("Digits is 9; it must be between 6 and 8."));
        });
    }
}
