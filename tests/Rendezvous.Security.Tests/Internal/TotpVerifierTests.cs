using System.Text;
using Microsoft.Extensions.Time.Testing;
using OtpNet;
using Rendezvous.Security.Internal;

namespace Rendezvous.Security.Tests.Internal;

public sealed class TotpVerifierTests
{
    private static readonly byte[] Rfc6238Secret = Encoding.ASCII.GetBytes("12345678901234567890");
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_010);

    [TestCase(59L, "94287082")]
    [TestCase(1111111109L, "07081804")]
    [TestCase(1111111111L, "14050471")]
    [TestCase(1234567890L, "89005924")]
    [TestCase(2000000000L, "69279037")]
    [TestCase(20000000000L, "65353130")]
    public void Rfc6238_sha1_test_vectors_are_accepted(long unixTime, string code)
    {
        var verifier = new TotpVerifier(new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(unixTime)));
        var entry = new SecretEntry("00000000-0000-0000-0000-000000000001", Rfc6238Secret, 30, 8, Now);

        bool accepted = verifier.TryVerify(entry, code, allowedSkewSteps: 0, out long step);

        Assert.That(accepted, Is.True);
        Assert.That(step, Is.EqualTo(unixTime / 30));
    }

    [Test]
    public void Code_of_the_previous_step_is_accepted()
    {
        var (verifier, entry) = Create();

        Assert.That(verifier.TryVerify(entry, CodeAt(entry, Now.AddSeconds(-30)), 1, out long step), Is.True);
        Assert.That(step, Is.EqualTo(CurrentStep(entry) - 1));
    }

    [Test]
    public void Code_of_the_next_step_is_accepted()
    {
        var (verifier, entry) = Create();

        Assert.That(verifier.TryVerify(entry, CodeAt(entry, Now.AddSeconds(30)), 1, out long step), Is.True);
        Assert.That(step, Is.EqualTo(CurrentStep(entry) + 1));
    }

    [TestCase(-60)]
    [TestCase(60)]
    public void Code_two_steps_off_is_rejected(int offsetSeconds)
    {
        var (verifier, entry) = Create();

        Assert.That(verifier.TryVerify(entry, CodeAt(entry, Now.AddSeconds(offsetSeconds)), 1, out _), Is.False);
    }

    [Test]
    public void Code_of_the_previous_step_is_rejected_without_skew()
    {
        var (verifier, entry) = Create();

        Assert.That(verifier.TryVerify(entry, CodeAt(entry, Now.AddSeconds(-30)), 0, out _), Is.False);
    }

    [Test]
    public void Code_with_other_length_than_the_entry_digits_is_rejected()
    {
        var (verifier, entry) = Create(digits: 6);
        string eightDigits = new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, 8).ComputeTotp(Now.UtcDateTime);

        Assert.That(verifier.TryVerify(entry, eightDigits, 1, out _), Is.False);
    }

    [TestCase(6, 7)]
    [TestCase(6, 8)]
    [TestCase(8, 6)]
    [TestCase(6, 6)]
    public void A_code_of_any_well_formed_length_computes_every_candidate_step_whatever_the_entry_digits(int entryDigits, int codeDigits)
    {
        var (verifier, entry) = Create(digits: entryDigits);
        string code = new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, codeDigits).ComputeTotp(Now.UtcDateTime);

        bool accepted = verifier.TryVerify(entry, code, allowedSkewSteps: 2, out long step);

        Assert.Multiple(() =>
        {
            Assert.That(accepted, Is.EqualTo(entryDigits == codeDigits));
            Assert.That(step, entryDigits == codeDigits ? Is.EqualTo(CurrentStep(entry)) : Is.EqualTo(-1));
            Assert.That(verifier.CodesComputed, Is.EqualTo(5), "2 steps either side of the current one");
        });
    }

    [TestCase("12345a")]
    [TestCase("12 456")]
    [TestCase("١٢٣٤٥٦")]
    [TestCase("")]
    public void Code_with_non_digits_is_rejected(string response)
    {
        var (verifier, entry) = Create();

        Assert.That(verifier.TryVerify(entry, response, 1, out _), Is.False);
    }

    [TestCase(5)]
    [TestCase(1)]
    public void Code_shorter_than_six_digits_is_rejected(int length)
    {
        var (verifier, entry) = Create();
        string truncated = CodeAt(entry, Now)[..length];

        Assert.That(verifier.TryVerify(entry, truncated, 1, out _), Is.False);
    }

    [Test]
    public void Eight_digit_entry_accepts_its_eight_digit_code()
    {
        var (verifier, entry) = Create(digits: 8);

        Assert.That(verifier.TryVerify(entry, CodeAt(entry, Now), 1, out _), Is.True);
    }

    [Test]
    public void Per_entry_step_is_honoured()
    {
        var (verifier, entry) = Create(step: 60);

        Assert.That(verifier.TryVerify(entry, CodeAt(entry, Now.AddSeconds(60)), 1, out long step), Is.True);
        Assert.That(step, Is.EqualTo((Now.ToUnixTimeSeconds() / 60) + 1));
    }

    private static (TotpVerifier Verifier, SecretEntry Entry) Create(int step = 30, int digits = 6)
    {
        var entry = new SecretEntry("00000000-0000-0000-0000-000000000001", Rfc6238Secret, step, digits, Now);
        return (new TotpVerifier(new FakeTimeProvider(Now)), entry);
    }

    private static long CurrentStep(SecretEntry entry) => Now.ToUnixTimeSeconds() / entry.Step;

    private static string CodeAt(SecretEntry entry, DateTimeOffset time) =>
        new Totp(entry.Secret, entry.Step, OtpHashMode.Sha1, entry.Digits).ComputeTotp(time.UtcDateTime);
}
