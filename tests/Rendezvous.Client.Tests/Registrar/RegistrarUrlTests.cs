using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Registrar;
using RegistrarClient = Rendezvous.Client.Registrar.RegistrarClient;

namespace Rendezvous.Client.Tests.Registrar;

/// <summary>
/// Only an https:// registrar is accepted, by the registrar client and by the agent's and the connector's options
/// (security model point 1): TOTP codes and cookies go there, so its certificate must be checked first.
/// </summary>
public sealed class RegistrarUrlTests
{
    private const string Pin = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    [TestCase("http://127.0.0.1:8898/")]
    [TestCase("http://rendezvous.example.com/")]
    [TestCase("ftp://rendezvous.example.com/")]
    public void Registrar_client_refuses_a_url_that_is_not_https_naming_it(string url)
    {
        var ex = Assert.Throws<ArgumentException>(() => new RegistrarClient(new Uri(url), new RegistrarTrust { PinnedFingerprint = Pin }));

        Assert.That(ex!.Message, Does.Contain($"'{url}'").And.Contain("https:// is required"));
    }

    [Test]
    public void Agent_options_refuse_an_http_registrar_even_with_a_pin()
    {
        var options = HttpAgentOptions();

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.That(ex!.Message, Does.Contain("'http://127.0.0.1:8898/'").And.Contain("https:// is required"));
    }

    [Test]
    public void Connector_options_refuse_an_http_registrar_even_with_a_pin()
    {
        var options = new RendezvousConnectorOptions { RegistrarUrl = new Uri("http://127.0.0.1:8898/"), Trust = new RegistrarTrust { PinnedFingerprint = Pin } };

        var ex = Assert.Throws<ArgumentException>(options.Validate);

        Assert.That(ex!.Message, Does.Contain("'http://127.0.0.1:8898/'").And.Contain("https:// is required"));
    }

    [Test]
    public void Agent_refuses_to_start_with_an_http_registrar()
    {
        var options = HttpAgentOptions();

        Assert.Throws<ArgumentException>(() => new HiddenServerAgent(options, (_, _) => Task.CompletedTask).Dispose());
    }

    [Test]
    public void Connector_options_still_accept_https()
    {
        var options = new RendezvousConnectorOptions { RegistrarUrl = new Uri("https://127.0.0.1:8898/"), Trust = new RegistrarTrust { PinnedFingerprint = Pin } };

        Assert.DoesNotThrow(options.Validate);
    }

    private static HiddenServerAgentOptions HttpAgentOptions() => new()
    {
        RegistrarUrl = new Uri("http://127.0.0.1:8898/"),
        Trust = new RegistrarTrust { PinnedFingerprint = Pin },
        Uuid = Guid.NewGuid().ToString(),
        Secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    };
}
