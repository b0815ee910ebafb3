using Moq;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests;

/// <summary>A handshake whose cookie the broker does not hold asks the registration directory (a cluster's) once.</summary>
public sealed partial class RendezvousConnectionHandlerTests
{
    [Test]
    public async Task A_registration_issued_elsewhere_is_adopted_for_its_R_line_and_then_pairs_its_I_line()
    {
        var (elsewhere, elsewhereI, directory) = UseDirectoryThatAdoptsARegistrationIssuedElsewhere();

        var (responder, _) = await ConnectAsync("R" + elsewhere + "\n");
        Assert.That(_broker.ParkedCount, Is.EqualTo(1), "parked once adopted");
        var (initiator, _) = await ConnectAsync("I" + elsewhereI + "\n");

        Assert.That(await initiator.ReadAsciiAsync(4).WaitAsync(TestTimeouts.Short), Is.EqualTo("+OK\n"));
        Assert.That(await responder.ReadAsciiAsync(4).WaitAsync(TestTimeouts.Short), Is.EqualTo("+OK\n"));
        directory.Verify(d => d.TryAdoptAsync(elsewhereI, It.IsAny<CancellationToken>()), Times.Once, "the I line found it held");
    }

    [Test]
    public async Task An_initiator_adopts_a_registration_issued_elsewhere_and_waits_for_its_responder()
    {
        var (elsewhere, elsewhereI, _) = UseDirectoryThatAdoptsARegistrationIssuedElsewhere();

        var (initiator, _) = await ConnectAsync("I" + elsewhereI + "\n");
        Assert.That(_broker.RegistrationCount, Is.EqualTo(2), "adopted while the initiator waits");
        var (responder, _) = await ConnectAsync("R" + elsewhere + "\n");

        Assert.That(await initiator.ReadAsciiAsync(4).WaitAsync(TestTimeouts.Short), Is.EqualTo("+OK\n"));
        Assert.That(await responder.ReadAsciiAsync(4).WaitAsync(TestTimeouts.Short), Is.EqualTo("+OK\n"));
    }

    [Test]
    public async Task A_cookie_the_directory_does_not_know_is_not_registered()
    {
        var directory = new Mock<IRegistrationDirectory>();
        directory.Setup(d => d.TryAdoptAsync(It.IsAny<string>(), It.IsAny<CancellationToken>())).ReturnsAsync(false);
        _handler = new RendezvousConnectionHandler(_broker, directory.Object, _options, _time, _metrics, logger: null);
        var unknown = RendezvousCookies.NewResponderValue();

        var (responder, _) = await ConnectAsync("R" + unknown + "\n");
        var (initiator, _) = await ConnectAsync("I" + unknown + "\n");

        Assert.That(await responder.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("-ERR not registered\n"));
        Assert.That(await initiator.ReadToEndAsciiAsync().WaitAsync(TestTimeouts.Short), Is.EqualTo("-ERR not registered\n"));
        directory.Verify(d => d.TryAdoptAsync(RendezvousCookies.InitiatorValueFor(unknown), It.IsAny<CancellationToken>()), Times.Once, "an R line is asked about by its I value");
    }

    /// <summary>Handles connections with a directory that knows one registration of "uuid-2", issued by another node.</summary>
    private (string R, string I, Mock<IRegistrationDirectory> Directory) UseDirectoryThatAdoptsARegistrationIssuedElsewhere()
    {
        var responderCookie = RendezvousCookies.NewResponderValue();
        var initiatorCookie = RendezvousCookies.InitiatorValueFor(responderCookie);
        var directory = new Mock<IRegistrationDirectory>(MockBehavior.Strict);
        directory.Setup(d => d.TryAdoptAsync(initiatorCookie, It.IsAny<CancellationToken>()))
            .ReturnsAsync(() => _broker.Adopt("uuid-2", initiatorCookie, generation: 1));
        _handler = new RendezvousConnectionHandler(_broker, directory.Object, _options, _time, _metrics, logger: null);
        return (responderCookie, initiatorCookie, directory);
    }
}
