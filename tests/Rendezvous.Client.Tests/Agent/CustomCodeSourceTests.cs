using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moq;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Agent;

/// <summary>
/// A server with a policy of its own (accepts <c>sesame-&lt;uuid&gt;</c>) and an agent with a code source of
/// its own, without any TOTP secret: registration, parking and a session through the real relay.
/// </summary>
public sealed class CustomCodeSourceTests
{
    private static Mock<IRegistrationPolicy> SesamePolicy()
    {
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns((RegistrationRequest request, CancellationToken _) => ValueTask.FromResult(
                request.Response == $"sesame-{request.Uuid}" ? RegistrationDecision.Accept() : RegistrationDecision.Reject()));
        return policy;
    }

    private static HiddenServerAgentOptions Options(RendezvousTestServer server, string uuid, IRegistrationCodeSource? source)
    {
        var options = ClientTestKit.AgentOptions(server, new HiddenServerIdentity(uuid, new byte[10]));
        options.Secret = null;
        options.CodeSource = source;
        return options;
    }

    [Test]
    public async Task Agent_with_a_custom_code_source_registers_parks_and_serves_with_a_custom_policy()
    {
        var policy = SesamePolicy();
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy.Object));
        var uuid = Guid.NewGuid().ToString();
        var source = new ScriptedSource(_ => $"sesame-{uuid}");
        await using var agent = RunningAgent.Start(Options(server, uuid, source));
        await agent.WaitParkedAsync();
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));

        var data = ClientTestKit.Binary(64 * 1024);
        var echoed = await ClientTestKit.RoundTripAsync(connector, uuid, data);

        Assert.Multiple(() =>
        {
            Assert.That(echoed, Is.EqualTo(data));
            Assert.That(agent.Agent.Status.TotalSessions, Is.EqualTo(1));
            Assert.That(source.Accepted, Is.EqualTo(new[] { $"sesame-{uuid}" }));
            Assert.That(source.Refused, Is.Empty);
        });
        policy.Verify(p => p.AuthorizeAsync(It.Is<RegistrationRequest>(r => r.Uuid == uuid && r.Response == $"sesame-{uuid}"), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Test]
    public async Task A_refused_code_is_reported_to_the_source_and_its_delay_is_kept_before_the_next_code()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(SesamePolicy().Object));
        var uuid = Guid.NewGuid().ToString();
        var source = new ScriptedSource(attempt => attempt == 0 ? "open-up" : $"sesame-{uuid}", refusalDelay: TimeSpan.FromMinutes(7));
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var agent = RunningAgent.Start(Options(server, uuid, source), time: time);

        await ClientTestKit.WaitUntilAsync(() => agent.Agent.Status.NextAttempt is not null, "the agent waits after the refusal", TestTimeouts.Long);
        var waitingFrom = time.GetUtcNow();
        Assert.Multiple(() =>
        {
            Assert.That(source.Refused, Is.EqualTo(new[] { "open-up" }));
            Assert.That(agent.Agent.Status.NextAttempt, Is.EqualTo(waitingFrom + TimeSpan.FromMinutes(7)));
            Assert.That(agent.Agent.Status.LastError, Does.Contain("invalid request").IgnoreCase);
        });

        time.Advance(TimeSpan.FromMinutes(7));
        await agent.WaitParkedAsync();

        Assert.Multiple(() =>
        {
            Assert.That(source.Accepted, Is.EqualTo(new[] { $"sesame-{uuid}" }));
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_code_source_registered_in_DI_is_used_without_a_secret()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(SesamePolicy().Object));
        var uuid = Guid.NewGuid().ToString();
        var source = new ScriptedSource(_ => $"sesame-{uuid}");
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Rendezvous:HiddenServer:RegistrarUrl"] = server.RegistrarUrl.ToString(),
            ["Rendezvous:HiddenServer:Uuid"] = uuid,
            ["Rendezvous:HiddenServer:Trust:PinnedFingerprint"] = server.CertificateFingerprint,
            ["Rendezvous:HiddenServer:PoolSize"] = "1",
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IRegistrationCodeSource>(source);
        builder.Services.AddRendezvousHiddenServer<EchoHandler>();
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TestTimeouts.Long);
        try
        {
            var agent = host.Services.GetRequiredService<HiddenServerAgent>();
            await ClientTestKit.WaitUntilAsync(() => agent.Status.Parked == 1, "the hosted agent parks");
            using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(server));

            Assert.That(await ClientTestKit.RoundTripAsync(connector, uuid, [7, 8, 9]), Is.EqualTo(new byte[] { 7, 8, 9 }));
            Assert.That(source.Accepted, Is.EqualTo(new[] { $"sesame-{uuid}" }));
        }
        finally
        {
            await host.StopAsync().WaitAsync(TestTimeouts.Short);
        }
    }

    [Test]
    public void Options_without_secret_or_code_source_are_refused_saying_what_to_set()
    {
        var options = new HiddenServerAgentOptions { RegistrarUrl = new Uri("https://registrar.example:8898/"), Uuid = Guid.NewGuid().ToString() };

        var ex = Assert.Throws<ArgumentException>(options.Validate);
        options.CodeSource = new ScriptedSource(_ => "x");

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Message, Does.Contain("Secret is not set").And.Contain("CodeSource"));
            Assert.DoesNotThrow(options.Validate);
        });
    }

    [Test]
    public async Task An_empty_code_stops_the_agent_naming_the_source()
    {
        await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(SesamePolicy().Object));
        await using var agent = RunningAgent.Start(Options(server, Guid.NewGuid().ToString(), new ScriptedSource(_ => "")));

        var ex = Assert.ThrowsAsync<RendezvousException>(() => agent.Run.WaitAsync(TestTimeouts.Short));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Message, Does.Contain(typeof(ScriptedSource).FullName!).And.Contain("empty code"));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Failed));
        });
    }

    /// <summary>Gives the code <c>code(attempt)</c> and records what the registrar made of each.</summary>
    private sealed class ScriptedSource(Func<int, string> code, TimeSpan? refusalDelay = null) : IRegistrationCodeSource
    {
        private int _attempts;

        public ConcurrentQueue<string> Accepted { get; } = new();

        public ConcurrentQueue<string> Refused { get; } = new();

        public ValueTask<string> GetCodeAsync(string uuid, CancellationToken cancellationToken) => ValueTask.FromResult(code(_attempts++));

        public void OnAccepted(string uuid, string code) => Accepted.Enqueue(code);

        public TimeSpan OnRefused(string uuid, string code)
        {
            Refused.Enqueue(code);
            return refusalDelay ?? TimeSpan.Zero;
        }
    }
}
