using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Moq;
using Rendezvous.Client.Registrar;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;
using RegistrarClient = Rendezvous.Client.Registrar.RegistrarClient;

namespace Rendezvous.Client.Tests.Registrar;

/// <summary>The registrar's clock, from its <c>Date</c> header, on its refusals: what the agent compares its own clock with.</summary>
public sealed class RegistrarClientDateTests
{
    [Test]
    public async Task Refusal_carries_the_registrars_date_header()
    {
        var date = new DateTimeOffset(2031, 5, 6, 7, 8, 9, TimeSpan.Zero);
        await using var stub = await StubRegistrar.StartAsync(
            200,
            """{"error":{"permanent":false,"diagnostic":"invalid request"}}""",
            headers: r => r.Headers.Date = date.ToString("R", CultureInfo.InvariantCulture));
        using var client = new RegistrarClient(stub.Url, new RegistrarTrust { PinnedFingerprint = stub.Fingerprint });

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), "123456").WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Error, Is.EqualTo(RendezvousError.InvalidRequest));
            Assert.That(ex.RegistrarDate, Is.EqualTo(date));
        });
    }

    [Test]
    public async Task Refusal_from_a_real_registrar_carries_its_clock()
    {
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(ValueTask.FromResult(RegistrationDecision.Reject()));
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy.Object));
        using var client = new RegistrarClient(server.RegistrarUrl, ClientTestKit.Pinned(server));
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        var ex = Assert.ThrowsAsync<RendezvousException>(() => client.RegisterAsync(Guid.NewGuid().ToString(), "123456").WaitAsync(TestTimeouts.Short));

        Assert.That(ex!.RegistrarDate, Is.InRange(before, DateTimeOffset.UtcNow.AddSeconds(1)));
    }
}
