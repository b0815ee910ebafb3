using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Tests.Common;

namespace Rendezvous.Protocol.Tests.Registrar;

/// <summary>The registrar over a registration directory: where triples point, the extra fields, and a directory that is down.</summary>
public sealed partial class RegistrarServiceTests
{
    private static readonly RelayAddress Owner = new("node-b.example", 7001);
    private static readonly RelayAddress Alternate = new("node-c.example", 7002);

    [Test]
    public async Task A_registration_names_the_relay_the_directory_chose_with_its_alternates_and_pool_advice()
    {
        Accept();
        var directory = new Mock<IRegistrationDirectory>(MockBehavior.Strict);
        directory.Setup(d => d.RegisterAsync(Uuid, It.IsAny<CancellationToken>())).ReturnsAsync(new DirectoryEntry("Rvalue", Owner, [Alternate], PoolSize: 3));

        var response = await HandleWithAsync(directory.Object, Put(Uuid, "123456"));

        Assert.That(response.Body, Is.EqualTo(
            """{"result":{"host":"node-b.example","port":7001,"cookie":"RRvalue","alternates":[{"host":"node-c.example","port":7002}],"pool":3}}"""));
    }

    [Test]
    public async Task A_lookup_without_alternates_is_byte_for_byte_the_single_node_triple()
    {
        var directory = new Mock<IRegistrationDirectory>(MockBehavior.Strict);
        directory.Setup(d => d.LookupAsync(Uuid, It.IsAny<CancellationToken>())).ReturnsAsync(new DirectoryEntry("Ivalue", Owner, [], PoolSize: 5));

        var response = await HandleWithAsync(directory.Object, Get(Uuid));

        Assert.That(response.Body, Is.EqualTo("""{"result":{"host":"node-b.example","port":7001,"cookie":"IIvalue"}}"""), "pool advice is for the registrant only");
    }

    [Test]
    public async Task A_lookup_lists_the_alternates_after_the_owner()
    {
        var directory = new Mock<IRegistrationDirectory>(MockBehavior.Strict);
        directory.Setup(d => d.LookupAsync(Uuid, It.IsAny<CancellationToken>())).ReturnsAsync(new DirectoryEntry("Ivalue", Owner, [Alternate]));

        var response = await HandleWithAsync(directory.Object, Get(Uuid));

        Assert.That(response.Body, Is.EqualTo(
            """{"result":{"host":"node-b.example","port":7001,"cookie":"IIvalue","alternates":[{"host":"node-c.example","port":7002}]}}"""));
    }

    [Test]
    public async Task A_directory_that_is_down_gets_503_with_retry_after_for_lookups_and_registrations()
    {
        Accept();
        var directory = new Mock<IRegistrationDirectory>(MockBehavior.Strict);
        directory.Setup(d => d.LookupAsync(Uuid, It.IsAny<CancellationToken>())).ThrowsAsync(new RegistrationDirectoryUnavailableException("redis: connection refused"));
        directory.Setup(d => d.RegisterAsync(Uuid, It.IsAny<CancellationToken>())).ThrowsAsync(new RegistrationDirectoryUnavailableException("redis: connection refused"));

        foreach (var request in new[] { Get(Uuid), Put(Uuid, "123456") })
        {
            var response = await HandleWithAsync(directory.Object, request);

            Assert.Multiple(() =>
            {
                Assert.That(response.StatusCode, Is.EqualTo(503), request.Method);
                Assert.That(response.RetryAfterSeconds, Is.EqualTo("2"));
                AssertError(response.Body, permanent: false, "service unavailable, retry later");
            });
        }
    }

    [Test]
    public async Task A_policy_that_cannot_decide_gets_503_and_nothing_is_registered()
    {
        _policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>())).ReturnsAsync(RegistrationDecision.Unavailable());

        var response = await HandleAsync(Put(Uuid, "123456"));

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(503));
            Assert.That(response.RetryAfterSeconds, Is.Not.Null);
            AssertError(response.Body, permanent: false, "service unavailable, retry later");
            Assert.That(_broker.RegistrationCount, Is.Zero);
        });
    }

    private async Task<RegistrarResponse> HandleWithAsync(IRegistrationDirectory directory, RegistrarRequest request)
    {
        var service = new RegistrarService(
            directory,
            _broker,
            _policy.Object,
            TestOptionsMonitor.Create(_registrarOptions),
            new RendezvousEndpoint { Port = BoundPort },
            _metrics,
            logger: null);
        return await service.HandleAsync(request).AsTask().WaitAsync(TestTimeouts.Short);
    }
}
