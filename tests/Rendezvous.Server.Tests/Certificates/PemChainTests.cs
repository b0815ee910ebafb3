using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Certificates;

public class PemChainTests
{
    private DirectoryInfo _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("rendezvous-pem-");

    [TearDown]
    public void DeleteDirectory() => _directory.Delete(recursive: true);

    [Test]
    public void Full_chain_file_loads_the_leaf_with_its_key_and_the_intermediate()
    {
        using var chain = TestCertificateChain.Create();
        var (certificatePath, keyPath) = chain.WriteFullChain();

        SslStreamCertificateContext context = RegistrarCertificates.LoadPemWithChain(certificatePath, keyPath);
        using X509Certificate2 leaf = context.TargetCertificate;

        Assert.Multiple(() =>
        {
            Assert.That(leaf.RawData, Is.EqualTo(chain.Leaf.RawData));
            Assert.That(leaf.HasPrivateKey, Is.True);
            Assert.That(context.IntermediateCertificates.Select(c => c.Thumbprint), Is.EqualTo(new[] { chain.Intermediate.Thumbprint }));
        });
    }

    [TestCase("-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n", TestName = "A_second_block_of_base64_that_is_not_a_certificate_names_the_file")]
    [TestCase("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", TestName = "A_second_block_that_is_not_base64_names_the_file")]
    public void A_further_block_that_is_not_a_certificate_names_the_file(string garbage)
    {
        using var chain = TestCertificateChain.Create();
        var (certificatePath, keyPath) = chain.WriteFullChain();
        File.WriteAllText(certificatePath, chain.Leaf.ExportCertificatePem() + "\n" + garbage);

        var ex = Assert.Throws<InvalidDataException>(() => RegistrarCertificates.LoadPemWithChain(certificatePath, keyPath));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Message, Does.Contain(certificatePath));
            Assert.That(ex.Message, Does.StartWith("Certificate 2 "));
        });
    }

    [Test]
    public void A_file_with_the_intermediate_first_is_refused_saying_the_key_s_certificate_comes_first()
    {
        using var chain = TestCertificateChain.Create();
        var (certificatePath, keyPath) = chain.WriteFullChain();
        File.WriteAllText(certificatePath, chain.Intermediate.ExportCertificatePem() + "\n" + chain.Leaf.ExportCertificatePem() + "\n");

        var ex = Assert.Throws<InvalidDataException>(() => RegistrarCertificates.LoadPemWithChain(certificatePath, keyPath));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Message, Does.Contain(keyPath));
            Assert.That(ex.Message, Does.Contain("must come first"));
        });
    }

    [Test]
    public void A_certificate_issued_for_clients_only_loads_for_pinned_peers()
    {
        // expose serves hidden-server sessions to clients that pin the fingerprint and check nothing else.
        var (certificatePath, keyPath) = ClientOnlyCertificate.Write(_directory.FullName);

        SslStreamCertificateContext context = RegistrarCertificates.LoadPemWithChain(certificatePath, keyPath);
        using X509Certificate2 leaf = context.TargetCertificate;

        Assert.That(leaf.HasPrivateKey, Is.True);
    }

    [Test]
    public async Task SslStream_server_with_the_loaded_chain_sends_the_intermediate()
    {
        using var chain = TestCertificateChain.Create();
        var (certificatePath, keyPath) = chain.WriteFullChain();
        SslStreamCertificateContext context = RegistrarCertificates.LoadPemWithChain(certificatePath, keyPath);
        using X509Certificate2 leaf = context.TargetCertificate;

        List<X509Certificate2> sent = await TestCertificateChain.GetSentCertificatesAsync(async (stream, cancellationToken) =>
        {
            await using var tls = new SslStream(stream, leaveInnerStreamOpen: false);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = context }, cancellationToken);
        });

        chain.AssertIntermediateSent(sent, "the SslStream server");
    }
}
