using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Rendezvous.Client.Sessions;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Sessions;

/// <summary>The hidden server's end-to-end TLS with a certificate context (what <c>expose --tls-cert</c> gives it).</summary>
public sealed class TlsHiddenServerChainTests
{
    [Test]
    public async Task Authenticator_with_a_loaded_full_chain_sends_the_intermediate()
    {
        using var chain = TestCertificateChain.Create();
        var (certificatePath, keyPath) = chain.WriteFullChain();
        SslStreamCertificateContext context = RegistrarCertificates.LoadPemWithChain(certificatePath, keyPath);
        using X509Certificate2 leaf = context.TargetCertificate;
        var authenticator = new TlsHiddenServerAuthenticator(context);

        List<X509Certificate2> sent = await TestCertificateChain.GetSentCertificatesAsync(async (stream, cancellationToken) =>
        {
            var info = new RendezvousSessionInfo(Guid.NewGuid().ToString(), RendezvousRole.HiddenServer, RelayEndPoint: null);
            Stream? tls = await authenticator.AuthenticateAsync(stream, info, cancellationToken);
            if (tls is not null)
            {
                await tls.DisposeAsync();
            }
        });

        chain.AssertIntermediateSent(sent, "the hidden server");
    }
}
