using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

public sealed class RegistrarCertificateChainTests
{
    [Test]
    public async Task Registrar_sends_the_intermediate_of_a_full_chain_certificate_file()
    {
        using var chain = TestCertificateChain.Create();
        await using var server = await StartWithFullChainAsync(chain, new Mock<IRegistrationPolicy>());

        var registrar = new IPEndPoint(IPAddress.Parse(server.RegistrarUrl.Host), server.RegistrarUrl.Port);
        List<X509Certificate2> sent = await TestCertificateChain.GetSentCertificatesAsync(registrar);

        Assert.That(server.CertificateFingerprint, Is.EqualTo(RegistrarCertificates.GetSha256Fingerprint(chain.Leaf)));
        chain.AssertIntermediateSent(sent, "the registrar");
    }

    [Test]
    public async Task Registrar_with_a_full_chain_certificate_file_answers_over_https()
    {
        using var chain = TestCertificateChain.Create();
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Accept());
        await using var server = await StartWithFullChainAsync(chain, policy);
        using var registrar = server.CreateRegistrarClient();

        var reply = await registrar.RegisterAsync(Guid.NewGuid().ToString(), "123456");

        Assert.That(reply.Triple.Bare, Is.Not.Empty);
    }

    [Test]
    public void A_certificate_issued_for_clients_only_is_refused_for_the_registrar_naming_the_file()
    {
        var directory = Directory.CreateTempSubdirectory("rendezvous-eku-");
        try
        {
            var (certificatePath, keyPath) = ClientOnlyCertificate.Write(directory.FullName);
            var options = new RendezvousServerOptions { CertificatePath = certificatePath, KeyPath = keyPath, DataDirectory = directory.FullName };

            var ex = Assert.Throws<InvalidDataException>(() => Internal.WebCertificate.Load(options, publicHost: null, TimeProvider.System));

            Assert.Multiple(() =>
            {
                Assert.That(ex!.Message, Does.Contain(certificatePath));
                Assert.That(ex.Message, Does.Contain("server authentication (1.3.6.1.5.5.7.3.1)"));
            });
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Starts a server whose registrar certificate is <paramref name="chain"/>'s fullchain.pem and key.pem.</summary>
    private static Task<RendezvousTestServer> StartWithFullChainAsync(TestCertificateChain chain, Mock<IRegistrationPolicy> policy)
    {
        var (certificatePath, keyPath) = chain.WriteFullChain();
        return RendezvousTestServer.StartAsync(
            b => b.AddPolicy(policy.Object),
            new Dictionary<string, string?>
            {
                ["Rendezvous:CertificatePath"] = certificatePath,
                ["Rendezvous:KeyPath"] = keyPath,
            });
    }
}
