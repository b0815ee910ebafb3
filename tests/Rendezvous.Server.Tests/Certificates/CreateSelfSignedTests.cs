using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Server.Tests.Certificates;

public class CreateSelfSignedTests
{
    [Test]
    public void Ip_addresses_become_ip_sans_and_other_names_dns_sans()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned(
            "relay.example.com",
            ["relay.example.com", "127.0.0.1", "::1", "[2001:db8::7]", "localhost", "10.1"],
            TimeSpan.FromDays(1));

        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(san.EnumerateDnsNames(), Is.EquivalentTo(new[] { "relay.example.com", "localhost", "10.1" }));
            Assert.That(
                san.EnumerateIPAddresses(),
                Is.EquivalentTo(new[] { IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Parse("2001:db8::7") }));
        });
    }

    [Test]
    public void Duplicate_and_empty_names_are_left_out()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned(
            "localhost", ["localhost", "LOCALHOST", "", "  ", "127.0.0.1", "127.0.0.1"], TimeSpan.FromDays(1));

        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(san.EnumerateDnsNames().Count(), Is.EqualTo(1));
            Assert.That(san.EnumerateIPAddresses().Count(), Is.EqualTo(1));
        });
    }

    [Test]
    public void Certificate_is_an_ecdsa_p256_server_certificate_that_is_not_a_ca()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));

        using ECDsa? key = certificate.GetECDsaPrivateKey();
        var basic = certificate.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().Single();
        var enhanced = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(certificate.HasPrivateKey, Is.True);
            Assert.That(key, Is.Not.Null);
            Assert.That(key!.KeySize, Is.EqualTo(256));
            Assert.That(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false), Is.EqualTo("localhost"));
            Assert.That(certificate.Issuer, Is.EqualTo(certificate.Subject));
            Assert.That(basic.CertificateAuthority, Is.False);
            Assert.That(usage.KeyUsages, Is.EqualTo(X509KeyUsageFlags.DigitalSignature));
            Assert.That(enhanced.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value), Is.EqualTo(new[] { "1.3.6.1.5.5.7.3.1" }));
        });
    }

    [Test]
    public void Validity_starts_a_day_before_now_and_lasts_the_given_time()
    {
        var now = new DateTimeOffset(2030, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234);
        var time = new FakeTimeProvider(now);

        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned(
            "localhost", ["localhost"], TimeSpan.FromDays(30), time);

        var wholeSeconds = new DateTimeOffset(2030, 5, 6, 7, 8, 9, TimeSpan.Zero);
        Assert.Multiple(() =>
        {
            Assert.That(new DateTimeOffset(certificate.NotBefore.ToUniversalTime()), Is.EqualTo(wholeSeconds.AddDays(-1)));
            Assert.That(new DateTimeOffset(certificate.NotAfter.ToUniversalTime()), Is.EqualTo(wholeSeconds.AddDays(30)));
        });
    }

    [Test]
    public void Serial_numbers_are_random_and_positive()
    {
        using X509Certificate2 first = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        using X509Certificate2 second = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));

        Assert.Multiple(() =>
        {
            Assert.That(first.SerialNumber, Is.Not.EqualTo(second.SerialNumber));
            Assert.That(first.SerialNumberBytes.Length, Is.EqualTo(16));
            Assert.That(first.SerialNumberBytes.Span[0] & 0x80, Is.Zero, "the serial number must be positive");
        });
    }

    [TestCase("bad_name")]
    [TestCase("-leading.example")]
    [TestCase("two..dots")]
    [TestCase("1:2:3")]
    public void A_name_that_is_neither_dns_nor_ip_is_rejected_by_name(string name)
    {
        var ex = Assert.Throws<ArgumentException>(
            () => RegistrarCertificates.CreateSelfSigned("localhost", ["localhost", name], TimeSpan.FromDays(1)));

        Assert.That(ex!.Message, Does.Contain($"'{name}'"));
    }

    [Test]
    public void A_validity_that_is_not_positive_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(
            () => RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.Zero));
    }
}
