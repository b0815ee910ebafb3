using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Certificates;

public class LoadOrCreateTests
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public void First_call_creates_a_certificate_for_loopback_this_machine_and_the_given_names()
    {
        RegistrarCertificateResult result = RegistrarCertificates.LoadOrCreate(
            _directory.Path, ["relay.example.com", "", "192.0.2.10", "relay.example.com"]);
        using X509Certificate2 certificate = result.Certificate;

        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(result.Created, Is.True);
            Assert.That(certificate.HasPrivateKey, Is.True);
            Assert.That(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false), Is.EqualTo("relay.example.com"));
            Assert.That(san.EnumerateDnsNames(), Does.Contain("localhost").And.Contain("relay.example.com"));
            Assert.That(san.EnumerateDnsNames().Count(n => n == "relay.example.com"), Is.EqualTo(1));
            Assert.That(
                san.EnumerateIPAddresses(),
                Is.EquivalentTo(new[] { IPAddress.Loopback, IPAddress.IPv6Loopback, IPAddress.Parse("192.0.2.10") }));
            if (Dns.GetHostName().All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-'))
            {
                // A host name that is not a valid DNS name is left out, by design.
                Assert.That(san.EnumerateDnsNames(), Does.Contain(Dns.GetHostName()).IgnoreCase);
            }

            Assert.That(certificate.NotAfter - certificate.NotBefore, Is.EqualTo(TimeSpan.FromDays(3651)));
            Assert.That(result.CertificatePath, Is.EqualTo(_directory.Combine("registrar.crt")));
            Assert.That(result.KeyPath, Is.EqualTo(_directory.Combine("registrar.key")));
            Assert.That(File.Exists(result.CertificatePath) && File.Exists(result.KeyPath), Is.True);
            Assert.That(result.Sha256Fingerprint, Is.EqualTo(RegistrarCertificates.GetSha256Fingerprint(certificate)));
        });
    }

    [Test]
    public void Common_name_is_localhost_when_no_names_are_given()
    {
        RegistrarCertificateResult result = RegistrarCertificates.LoadOrCreate(_directory.Path, []);
        using X509Certificate2 certificate = result.Certificate;

        Assert.That(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false), Is.EqualTo("localhost"));
    }

    [Test]
    public void Second_call_loads_the_certificate_the_first_created()
    {
        RegistrarCertificateResult first = RegistrarCertificates.LoadOrCreate(_directory.Path, ["relay.example.com"]);
        first.Certificate.Dispose();

        RegistrarCertificateResult second = RegistrarCertificates.LoadOrCreate(_directory.Path, ["other.example.com"]);
        using X509Certificate2 certificate = second.Certificate;

        Assert.Multiple(() =>
        {
            Assert.That(second.Created, Is.False);
            Assert.That(second.Sha256Fingerprint, Is.EqualTo(first.Sha256Fingerprint));
            Assert.That(certificate.HasPrivateKey, Is.True);
        });
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public void Created_key_file_is_0600()
    {
        RegistrarCertificateResult result = RegistrarCertificates.LoadOrCreate(_directory.Combine("data"), []);
        result.Certificate.Dispose();

        Assert.That(File.GetUnixFileMode(result.KeyPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public void A_missing_data_directory_is_created_private()
    {
        string data = _directory.Combine("data");

        RegistrarCertificates.LoadOrCreate(data, []).Certificate.Dispose();

        Assert.That(
            File.GetUnixFileMode(data),
            Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
    }

    [TestCase("registrar.crt", "registrar.key")]
    [TestCase("registrar.key", "registrar.crt")]
    public void Only_one_file_present_is_an_error_naming_the_missing_one(string present, string missing)
    {
        RegistrarCertificates.LoadOrCreate(_directory.Path, []).Certificate.Dispose();
        File.Delete(_directory.Combine(missing));

        var ex = Assert.Throws<FileNotFoundException>(() => RegistrarCertificates.LoadOrCreate(_directory.Path, []));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.FileName, Is.EqualTo(_directory.Combine(missing)));
            Assert.That(ex.Message, Does.Contain(_directory.Combine(missing)));
            Assert.That(File.Exists(_directory.Combine(present)), Is.True, "the remaining file is left alone");
        });
    }
}
