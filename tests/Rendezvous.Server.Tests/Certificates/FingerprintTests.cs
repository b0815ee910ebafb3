using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Server.Tests.Certificates;

public class FingerprintTests
{
    private const string Canonical =
        "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0";

    [Test]
    public void Fingerprint_is_the_sha256_of_the_certificate_as_upper_case_pairs_with_colons()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));

        string fingerprint = RegistrarCertificates.GetSha256Fingerprint(certificate);

        string expected = string.Join(':', SHA256.HashData(certificate.RawData).Select(b => b.ToString("X2", null)));
        Assert.That(fingerprint, Is.EqualTo(expected));
        Assert.That(fingerprint, Does.Match("^([0-9A-F]{2}:){31}[0-9A-F]{2}$"));
    }

    [TestCase(Canonical)]
    [TestCase("00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0")]
    [TestCase("00112233445566778899AABBCCDDEEFF0F1E2D3C4B5A69788796A5B4C3D2E1F0")]
    [TestCase("00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0")]
    [TestCase("00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 0f 1e 2d 3c 4b 5a 69 78 87 96 a5 b4 c3 d2 e1 f0")]
    [TestCase("  00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0\n")]
    public void Accepted_forms_normalise_to_the_canonical_form(string given)
    {
        Assert.That(RegistrarCertificates.NormalizeFingerprint(given), Is.EqualTo(Canonical));
    }

    [Test]
    public void The_fingerprint_of_a_certificate_is_already_canonical()
    {
        using X509Certificate2 certificate = RegistrarCertificates.CreateSelfSigned("localhost", ["localhost"], TimeSpan.FromDays(1));
        string fingerprint = RegistrarCertificates.GetSha256Fingerprint(certificate);

        Assert.That(RegistrarCertificates.NormalizeFingerprint(fingerprint.ToLowerInvariant().Replace(":", "", StringComparison.Ordinal)), Is.EqualTo(fingerprint));
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase("AB:CD")]
    [TestCase("00112233445566778899AABBCCDDEEFF0F1E2D3C4B5A69788796A5B4C3D2E1F")]
    [TestCase("00112233445566778899AABBCCDDEEFF0F1E2D3C4B5A69788796A5B4C3D2E1FG")]
    [TestCase("001:12:23:34:45:56:67:78:89:9A:AB:BC:CD:DE:EF:F0:F1:E2:D3:C4:B5:A6:97:88:79:6A:5B:4C:3D:2E:1F0")]
    [TestCase("00-11-22-33-44-55-66-77-88-99-AA-BB-CC-DD-EE-FF-0F-1E-2D-3C-4B-5A-69-78-87-96-A5-B4-C3-D2-E1-F0")]
    [TestCase("sha256:00112233445566778899AABBCCDDEEFF0F1E2D3C4B5A69788796A5B4C3D2E1F0")]
    public void Anything_else_is_rejected_with_a_message_quoting_it(string given)
    {
        var ex = Assert.Throws<ArgumentException>(() => RegistrarCertificates.NormalizeFingerprint(given));

        Assert.That(ex!.Message, Does.Contain($"'{given}'"));
        Assert.That(RegistrarCertificates.TryNormalizeFingerprint(given, out _), Is.False);
    }

    [Test]
    public void Null_is_rejected_as_an_argument_exception()
    {
        var ex = Assert.Throws<ArgumentException>(() => RegistrarCertificates.NormalizeFingerprint(null!));

        Assert.That(ex!.Message, Does.Contain("(null)"));
    }
}
