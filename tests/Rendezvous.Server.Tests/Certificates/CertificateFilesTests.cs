using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Certificates;

/// <summary>What <c>rendezvous cert</c> calls: <see cref="RegistrarCertificates.CreatePemFiles"/>, <see cref="RegistrarCertificates.LoadCertificateFile"/>, <see cref="RegistrarCertificates.Describe"/>.</summary>
public class CertificateFilesTests
{
    private TemporaryDirectory _directory = null!;

    private string CertificatePath => _directory.Combine("out", "relay.crt");

    private string KeyPath => _directory.Combine("out", "relay.key");

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public void CreatePemFiles_writes_a_pair_valid_for_the_common_name_and_the_further_names()
    {
        RegistrarCertificateResult created = RegistrarCertificates.CreatePemFiles(
            CertificatePath, KeyPath, "relay.example.com", ["192.0.2.1"], TimeSpan.FromDays(2));
        using X509Certificate2 certificate = created.Certificate;
        using X509Certificate2 loaded = RegistrarCertificates.LoadPem(CertificatePath, KeyPath);

        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(created.Created, Is.True);
            Assert.That(created.CertificatePath, Is.EqualTo(CertificatePath));
            Assert.That(created.KeyPath, Is.EqualTo(KeyPath));
            Assert.That(loaded.RawData, Is.EqualTo(certificate.RawData));
            Assert.That(created.Sha256Fingerprint, Is.EqualTo(RegistrarCertificates.GetSha256Fingerprint(loaded)));
            Assert.That(san.EnumerateDnsNames(), Is.EqualTo(new[] { "relay.example.com" }));
            Assert.That(san.EnumerateIPAddresses(), Is.EqualTo(new[] { IPAddress.Parse("192.0.2.1") }));
            Assert.That(certificate.NotAfter - certificate.NotBefore, Is.EqualTo(TimeSpan.FromDays(3)), "one day back for clock skew");
        });
        if (!OperatingSystem.IsWindows())
        {
            Assert.That(File.GetUnixFileMode(KeyPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        }
    }

    [TestCase("certificate")]
    [TestCase("key")]
    public void CreatePemFiles_without_overwrite_refuses_an_existing_file_and_writes_nothing(string existing)
    {
        string path = existing == "key" ? KeyPath : CertificatePath;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "keep me");

        var ex = Assert.Throws<CertificateFileExistsException>(() =>
            RegistrarCertificates.CreatePemFiles(CertificatePath, KeyPath, "localhost", [], TimeSpan.FromDays(1)));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Path, Is.EqualTo(path));
            Assert.That(ex.Message, Does.Contain(path));
            Assert.That(File.ReadAllText(path), Is.EqualTo("keep me"));
            Assert.That(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!), Has.Length.EqualTo(1), "nothing else is written");
        });
    }

    [Test]
    public void CreatePemFiles_with_overwrite_replaces_the_pair()
    {
        string first;
        using (X509Certificate2 certificate = RegistrarCertificates.CreatePemFiles(CertificatePath, KeyPath, "localhost", [], TimeSpan.FromDays(1)).Certificate)
        {
            first = RegistrarCertificates.GetSha256Fingerprint(certificate);
        }

        using X509Certificate2 replaced = RegistrarCertificates.CreatePemFiles(
            CertificatePath, KeyPath, "localhost", [], TimeSpan.FromDays(1), overwrite: true).Certificate;
        using X509Certificate2 loaded = RegistrarCertificates.LoadPem(CertificatePath, KeyPath);

        Assert.That(RegistrarCertificates.GetSha256Fingerprint(loaded), Is.EqualTo(RegistrarCertificates.GetSha256Fingerprint(replaced)).And.Not.EqualTo(first));
    }

    [Test]
    public void LoadCertificateFile_reads_the_first_certificate_of_a_pem_chain_and_a_der_file()
    {
        using X509Certificate2 leaf = RegistrarCertificates.CreateSelfSigned("leaf.example.com", [], TimeSpan.FromDays(1));
        using X509Certificate2 other = RegistrarCertificates.CreateSelfSigned("other.example.com", [], TimeSpan.FromDays(1));
        string chain = _directory.Combine("fullchain.pem");
        string der = _directory.Combine("leaf.der");
        File.WriteAllText(chain, leaf.ExportCertificatePem() + "\n" + other.ExportCertificatePem() + "\n");
        File.WriteAllBytes(der, leaf.RawData);

        using X509Certificate2 fromPem = RegistrarCertificates.LoadCertificateFile(chain);
        using X509Certificate2 fromDer = RegistrarCertificates.LoadCertificateFile(der);

        Assert.Multiple(() =>
        {
            Assert.That(fromPem.RawData, Is.EqualTo(leaf.RawData));
            Assert.That(fromDer.RawData, Is.EqualTo(leaf.RawData));
            Assert.That(fromPem.HasPrivateKey, Is.False);
        });
    }

    [Test]
    public void LoadCertificateFile_of_a_key_file_or_a_missing_file_names_it()
    {
        using (RegistrarCertificates.CreatePemFiles(CertificatePath, KeyPath, "localhost", [], TimeSpan.FromDays(1)).Certificate)
        {
        }

        string missing = _directory.Combine("nope.crt");
        Assert.Multiple(() =>
        {
            Assert.That(() => RegistrarCertificates.LoadCertificateFile(KeyPath),
                Throws.TypeOf<InvalidDataException>().With.Message.Contains($"'{KeyPath}' holds no certificate").And.Message.Contains("DER"));
            Assert.That(() => RegistrarCertificates.LoadCertificateFile(missing),
                Throws.TypeOf<FileNotFoundException>().With.Message.Contains(missing));
        });
    }

    [Test]
    public void Describe_gives_the_fingerprint_names_issuer_and_validity_and_marks_an_expired_certificate()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero));
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("relay.example.com", ["relay.example.com", "::1"], TimeSpan.FromDays(10), time);

        RegistrarCertificateDescription description = RegistrarCertificates.Describe(certificate);
        string valid = RegistrarCertificateDescription.FormatFields(description.ToFields(time.GetUtcNow()));
        string expired = RegistrarCertificateDescription.FormatFields(description.ToFields(time.GetUtcNow().AddDays(11)));

        string nl = Environment.NewLine;
        Assert.Multiple(() =>
        {
            Assert.That(description.Sha256Fingerprint, Is.EqualTo(RegistrarCertificates.GetSha256Fingerprint(certificate)));
            Assert.That(description.Names, Is.EqualTo(new[] { "relay.example.com", "::1" }));
            Assert.That(description.Issuer, Is.Null, "self-signed");
            Assert.That(description.NotAfter, Is.EqualTo(new DateTimeOffset(2030, 1, 12, 3, 4, 5, TimeSpan.Zero)));
            Assert.That(valid, Does.StartWith($"SHA-256 fingerprint: {description.Sha256Fingerprint}{nl}Subject:             CN=relay.example.com{nl}"));
            Assert.That(valid, Does.Contain($"Names:               relay.example.com, ::1{nl}Issuer:              itself (self-signed){nl}"));
            Assert.That(valid, Does.EndWith($"Valid until:         2030-01-12 03:04:05 UTC{nl}"));
            Assert.That(expired, Does.EndWith($"Valid until:         2030-01-12 03:04:05 UTC (expired){nl}"));
        });
    }
}
