using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Certificates;

public class PemFilesTests
{
    private TemporaryDirectory _directory = null!;

    [SetUp]
    public void SetUp() => _directory = new TemporaryDirectory();

    [TearDown]
    public void TearDown() => _directory.Dispose();

    [Test]
    public void Written_pair_loads_back_as_the_same_certificate_with_a_working_key()
    {
        using X509Certificate2 original = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        string certificatePath = _directory.Combine("a.crt");
        string keyPath = _directory.Combine("a.key");

        RegistrarCertificates.WritePem(original, certificatePath, keyPath);
        using X509Certificate2 loaded = RegistrarCertificates.LoadPem(certificatePath, keyPath);

        byte[] data = [1, 2, 3];
        using ECDsa signer = loaded.GetECDsaPrivateKey()!;
        using ECDsa verifier = original.GetECDsaPublicKey()!;
        Assert.Multiple(() =>
        {
            Assert.That(loaded.HasPrivateKey, Is.True);
            Assert.That(loaded.RawData, Is.EqualTo(original.RawData));
            Assert.That(verifier.VerifyData(data, signer.SignData(data, HashAlgorithmName.SHA256), HashAlgorithmName.SHA256), Is.True);
            Assert.That(File.ReadAllText(certificatePath), Does.StartWith("-----BEGIN CERTIFICATE-----"));
            Assert.That(File.ReadAllText(keyPath), Does.StartWith("-----BEGIN PRIVATE KEY-----"));
        });
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public void Key_file_is_0600_and_certificate_file_0644()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        string certificatePath = _directory.Combine("a.crt");
        string keyPath = _directory.Combine("a.key");

        RegistrarCertificates.WritePem(certificate, certificatePath, keyPath);

        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(keyPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(
                File.GetUnixFileMode(certificatePath),
                Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead));
        });
    }

    [Test]
    [Platform(Exclude = "Win")]
    [UnsupportedOSPlatform("windows")]
    public void Replacing_a_world_readable_key_file_leaves_it_0600()
    {
        string certificatePath = _directory.Combine("a.crt");
        string keyPath = _directory.Combine("a.key");
        File.WriteAllText(keyPath, "old");
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));

        RegistrarCertificates.WritePem(certificate, certificatePath, keyPath);

        Assert.That(File.GetUnixFileMode(keyPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
    }

    [Test]
    public void Missing_directories_are_created_and_no_temporary_files_are_left()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        string certificatePath = _directory.Combine("x", "y", "a.crt");
        string keyPath = _directory.Combine("x", "y", "a.key");

        RegistrarCertificates.WritePem(certificate, certificatePath, keyPath);

        Assert.That(
            Directory.GetFiles(_directory.Combine("x", "y")).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "a.crt", "a.key" }));
    }

    [Test]
    public void A_certificate_without_its_key_cannot_be_written()
    {
        using X509Certificate2 withKey = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        using X509Certificate2 withoutKey = X509CertificateLoader.LoadCertificate(withKey.RawData);

        Assert.Throws<ArgumentException>(
            () => RegistrarCertificates.WritePem(withoutKey, _directory.Combine("a.crt"), _directory.Combine("a.key")));
    }

    [Test]
    public void Loading_a_missing_file_names_it()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        string certificatePath = _directory.Combine("a.crt");
        string keyPath = _directory.Combine("a.key");
        RegistrarCertificates.WritePem(certificate, certificatePath, keyPath);
        File.Delete(keyPath);

        var ex = Assert.Throws<FileNotFoundException>(() => RegistrarCertificates.LoadPem(certificatePath, keyPath));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Message, Does.Contain(keyPath));
            Assert.That(ex.FileName, Is.EqualTo(keyPath));
        });
    }

    [Test]
    public void Loading_a_file_without_a_certificate_names_it()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        string certificatePath = _directory.Combine("a.crt");
        string keyPath = _directory.Combine("a.key");
        RegistrarCertificates.WritePem(certificate, certificatePath, keyPath);
        File.WriteAllText(certificatePath, "not a certificate");

        var ex = Assert.Throws<InvalidDataException>(() => RegistrarCertificates.LoadPem(certificatePath, keyPath));

        Assert.That(ex!.Message, Does.Contain(certificatePath));
    }

    [Test]
    public void Loading_a_key_on_a_curve_the_platform_does_not_know_names_the_key_file()
    {
        // Found by eng/fuzz.sh pem: the curve's OID 1.2.840.10045.3.1.7 (P-256) mutated to 1.4.9032.10045.3.1.7 made
        // the platform throw PlatformNotSupportedException, which no caller expected.
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        using ECDsa key = certificate.GetECDsaPrivateKey()!;
        byte[] der = key.ExportECPrivateKey();
        byte[] p256 = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
        int at = der.AsSpan().IndexOf(p256);
        Assert.That(at, Is.GreaterThan(0), "the key names P-256 by its OID");
        der[at + 2] = 0x2C;
        der[at + 3] = 0xC6;
        string certificatePath = _directory.Combine("registrar.crt");
        string keyPath = _directory.Combine("registrar.key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, PemEncoding.WriteString("EC PRIVATE KEY", der));

        var ex = Assert.Throws<InvalidDataException>(() => RegistrarCertificates.LoadPem(certificatePath, keyPath));

        Assert.That(ex!.Message, Does.Contain(keyPath).And.Contain("does not support"));
    }

    [Test]
    public void Loading_a_key_that_belongs_to_another_certificate_names_the_key_file()
    {
        using X509Certificate2 first = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        using X509Certificate2 second = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        RegistrarCertificates.WritePem(first, _directory.Combine("1.crt"), _directory.Combine("1.key"));
        RegistrarCertificates.WritePem(second, _directory.Combine("2.crt"), _directory.Combine("2.key"));

        var ex = Assert.Throws<InvalidDataException>(
            () => RegistrarCertificates.LoadPem(_directory.Combine("1.crt"), _directory.Combine("2.key")));

        Assert.That(ex!.Message, Does.Contain(_directory.Combine("2.key")));
    }
}
