namespace Rendezvous.Security.Tests.Secrets;

public sealed class SecretFormatTests
{
    [TestCase("5F0C3F1E-8A3B-4C55-9D6E-0123456789AB")]
    [TestCase("{5f0c3f1e-8a3b-4c55-9d6e-0123456789ab}")]
    [TestCase("urn:uuid:5f0c3f1e-8a3b-4c55-9d6e-0123456789ab")]
    public void Uuid_is_normalised_to_lower_case_canonical_form(string text)
    {
        Assert.That(SecretFormat.TryNormalizeUuid(text, out string? uuid), Is.True);
        Assert.That(uuid, Is.EqualTo("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab"));
    }

    [TestCase("")]
    [TestCase("not-a-uuid")]
    [TestCase("5f0c3f1e-8a3b-4c55-9d6e-0123456789a")]
    [TestCase("5f0c3f1e-8a3b-4c55-9d6e-0123456789abc")]
    public void Non_uuid_is_refused(string text)
    {
        Assert.That(SecretFormat.TryNormalizeUuid(text, out _), Is.False);
    }

    [Test]
    public void Base32_round_trips_without_padding()
    {
        byte[] secret = SecretFormat.CreateRandomSecret();

        string text = SecretFormat.ToBase32(secret);

        Assert.That(text, Does.Not.Contain("="));
        Assert.That(text, Has.Length.EqualTo(32));
        Assert.That(SecretFormat.TryParseBase32(text.ToLowerInvariant(), out byte[]? parsed), Is.True);
        Assert.That(parsed, Is.EqualTo(secret));
    }

    [TestCase("JBSWY3DPEHPK3PX")]
    [TestCase("JBSWY3DPEHPK3PX1")]
    [TestCase("JBSWY3DPEHPK3PX!")]
    [TestCase("")]
    public void Invalid_or_short_base32_is_refused(string text)
    {
        Assert.That(SecretFormat.TryParseBase32(text, out _), Is.False);
    }

    [Test]
    public void Eighty_bit_secret_is_accepted()
    {
        Assert.That(SecretFormat.TryParseBase32("JBSWY3DPEHPK3PXP", out byte[]? secret), Is.True);
        Assert.That(secret, Has.Length.EqualTo(10));
    }

    [Test]
    public void Generated_secret_has_160_bits()
    {
        Assert.That(SecretFormat.CreateRandomSecret(), Has.Length.EqualTo(20));
    }

    [Test]
    public void Otpauth_uri_names_uuid_secret_issuer_algorithm_digits_and_period()
    {
        var entry = new SecretEntry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", [0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x21, 0xDE, 0xAD, 0xBE, 0xEF], 60, 8, DateTimeOffset.UnixEpoch);

        Assert.That(
            entry.ToOtpAuthUri(),
            Is.EqualTo("otpauth://totp/Rendezvous:5f0c3f1e-8a3b-4c55-9d6e-0123456789ab?secret=JBSWY3DPEHPK3PXP&issuer=Rendezvous&algorithm=SHA1&digits=8&period=60"));
    }

    [Test]
    public void Entry_text_does_not_contain_the_secret()
    {
        var entry = new SecretEntry("5f0c3f1e-8a3b-4c55-9d6e-0123456789ab", [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A], 30, 6, DateTimeOffset.UnixEpoch);

        Assert.That(entry.ToString(), Does.Not.Contain("Secret =").And.Not.Contain("ABCDEFGHIJ").And.Not.Contain(SecretFormat.ToBase32(entry.Secret)));
    }
}
