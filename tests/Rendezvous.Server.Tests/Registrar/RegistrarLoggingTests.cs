using Microsoft.Extensions.DependencyInjection;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Server.Tests.Registrar;

public sealed class RegistrarLoggingTests
{
    [Test]
    public async Task No_log_record_at_any_level_holds_the_code_or_the_cookie()
    {
        const string Code = "731942";
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(RegistrationDecision.Accept());
        using var logs = new LogCapture();
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy.Object), logs: logs);
        using var registrar = server.CreateRegistrarClient();

        var reply = await registrar.RegisterAsync(Guid.NewGuid().ToString(), Code);
        var cookie = reply.Triple.Bare;
        using (var responder = await LoopbackClient.ConnectWithLineAsync(server.RelayEndPoint, "R" + cookie))
        using (var initiator = await LoopbackClient.ConnectWithLineAsync(server.RelayEndPoint, reply.Triple.InitiatorCookie))
        {
            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
        }

        await server.StopAsync();
        Assert.Multiple(() =>
        {
            Assert.That(logs.Records, Is.Not.Empty, "the capture saw the server's logs");
            Assert.That(logs.AllText, Does.Not.Contain(Code));
            Assert.That(logs.AllText, Does.Not.Contain(cookie));
            Assert.That(logs.AllText, Does.Not.Contain(reply.Triple.InitiatorCookie[1..]));
        });
    }
}
