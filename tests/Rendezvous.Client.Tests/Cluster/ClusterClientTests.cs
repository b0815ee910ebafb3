using System.Diagnostics;
using System.Text;
using OtpNet;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Cluster;

/// <summary>
/// The agent and connector against two real in-process nodes (registrars on HTTPS, relays on TCP) sharing a test double
/// of the registration directory: several registrars, parking at the alternates, falling back to them, registering
/// again for a live owner, and pool advice.
/// </summary>
public sealed class ClusterClientTests
{
    private static HiddenServerIdentity NewIdentity() => new(Guid.NewGuid().ToString(), KeyGeneration.GenerateRandomKey(20));

    private static HiddenServerAgentOptions AgentOptions(RendezvousTestServer first, HiddenServerIdentity identity, int poolSize, params RendezvousTestServer[] more)
    {
        var options = ClientTestKit.AgentOptions(first, identity, poolSize);
        options.RegistrarUrls = [.. more.Select(s => s.RegistrarUrl)];
        return options;
    }

    private static RendezvousConnectorOptions ConnectorOptions(RendezvousTestServer first, params RendezvousTestServer[] more)
    {
        var options = ClientTestKit.ConnectorOptions(first);
        options.RegistrarUrls = [.. more.Select(s => s.RegistrarUrl)];
        return options;
    }

    private static RelayAddress RelayOf(RendezvousTestServer server) => new("127.0.0.1", server.RelayEndPoint.Port);

    /// <summary>Connects <paramref name="count"/> times one after the other, echoing a few bytes each; returns the failures and each connect's time.</summary>
    private static async Task<(int Failures, List<double> Milliseconds)> ConnectManyAsync(RendezvousConnector connector, string uuid, int count)
    {
        var failures = 0;
        var times = new List<double>();
        for (var i = 0; i < count; i++)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                await using var session = await connector.ConnectAsync(uuid).WaitAsync(TestTimeouts.Long);
                times.Add(watch.Elapsed.TotalMilliseconds);
                var echoed = await ClientTestKit.RoundTripAsync(session, Encoding.ASCII.GetBytes($"hello {i}"));
                Assert.That(Encoding.ASCII.GetString(echoed), Is.EqualTo($"hello {i}"));
            }
            catch (RendezvousException)
            {
                failures++;
            }
        }

        return (failures, times);
    }

    private static string Describe(List<double> times)
    {
        var sorted = times.Order().ToList();
        return sorted.Count == 0 ? "none" : $"median {sorted[sorted.Count / 2]:0.0} ms, max {sorted[^1]:0.0} ms over {sorted.Count}";
    }

    [Test]
    public async Task Agent_parks_at_the_owner_and_the_alternate_with_one_cookie_and_a_client_connects_through_the_alternate_when_the_owner_stops()
    {
        await using var directory = new SharedTestDirectory();
        var a = await directory.StartNodeAsync();
        var b = await directory.StartNodeAsync();
        Assert.That(b.CertificateFingerprint, Is.EqualTo(a.CertificateFingerprint), "the nodes share one registrar certificate");
        var identity = NewIdentity();
        var options = AgentOptions(a, identity, poolSize: 2, b);
        options.OwnerRelayLostAfter = TimeSpan.FromMinutes(5);
        await using var agent = RunningAgent.Start(options);

        // The full pool at the owner, half of it (one) at the alternate.
        await ClientTestKit.WaitUntilAsync(() => a.Broker.ParkedCount == 2 && b.Broker.ParkedCount == 1, "2 parked at the owner A and 1 at the alternate B", TestTimeouts.Long);
        Assert.That(directory.OwnerOf(identity.Uuid), Is.EqualTo(RelayOf(a)));

        using var connector = new RendezvousConnector(ConnectorOptions(a, b));
        var (upFailures, upTimes) = await ConnectManyAsync(connector, identity.Uuid, 10);
        Assert.That(connector.Fallbacks, Is.Zero, "with the owner up, every client pairs at the owner");

        await a.StopAsync();
        var (downFailures, downTimes) = await ConnectManyAsync(connector, identity.Uuid, 10);

        TestContext.Out.WriteLine($"owner up: {upFailures} failed, connect {Describe(upTimes)}; owner relay stopped: {downFailures} failed, connect {Describe(downTimes)}; fallbacks {connector.Fallbacks}.");
        Assert.Multiple(() =>
        {
            Assert.That(upFailures, Is.Zero);
            Assert.That(downFailures, Is.Zero, "killing the owner costs a connecting client no failed attempt");
            Assert.That(connector.Fallbacks, Is.EqualTo(10), "each client fell back from the stopped owner to the alternate");
            Assert.That(connector.CurrentRegistrar, Is.EqualTo(b.RegistrarUrl), "the lookups moved to the live registrar and stayed there");
            Assert.That(directory.Registrations, Is.EqualTo(1), "the agent did not register again meanwhile");
        });
    }

    [Test]
    public async Task An_alternate_that_refuses_the_cookie_never_ends_the_registration_and_the_owner_serves()
    {
        await using var directory = new SharedTestDirectory();
        var a = await directory.StartNodeAsync();
        var b = await directory.StartNodeAsync();
        directory.SetUnavailable(b, true);
        var identity = NewIdentity();
        await using var agent = RunningAgent.Start(AgentOptions(a, identity, poolSize: 2));

        // B is named as the alternate but cannot adopt the registration: its relay answers "not registered", again and again.
        await ClientTestKit.WaitUntilAsync(() => a.Broker.ParkedCount == 2 && directory.AdoptRefusals >= 3, "2 parked at A and B refused 3 parks", TestTimeouts.Long);
        using var connector = new RendezvousConnector(ConnectorOptions(a));
        var (failures, _) = await ConnectManyAsync(connector, identity.Uuid, 3);

        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Zero);
            Assert.That(connector.Fallbacks, Is.Zero);
            Assert.That(b.Broker.ParkedCount, Is.Zero);
            Assert.That(directory.Registrations, Is.EqualTo(1), "the alternate's refusals did not make the agent register again");
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
        });
    }

    [Test]
    public async Task Agent_registers_again_through_a_live_registrar_once_its_owner_relay_is_gone()
    {
        await using var directory = new SharedTestDirectory();
        var a = await directory.StartNodeAsync();
        var b = await directory.StartNodeAsync();
        var identity = NewIdentity();
        var options = AgentOptions(a, identity, poolSize: 2, b);
        options.OwnerRelayLostAfter = TimeSpan.FromMilliseconds(500);
        await using var agent = RunningAgent.Start(options);
        await ClientTestKit.WaitUntilAsync(() => a.Broker.ParkedCount == 2 && b.Broker.ParkedCount == 1, "parked at A and B", TestTimeouts.Long);

        var stopped = Stopwatch.StartNew();
        await a.StopAsync();
        directory.MarkDown(a);
        await ClientTestKit.WaitUntilAsync(
            () => directory.Registrations == 2 && Equals(directory.OwnerOf(identity.Uuid), RelayOf(b)) && b.Broker.ParkedCount == 2,
            "the agent registered again through B and parks its full pool there", TestTimeouts.Long);
        TestContext.Out.WriteLine($"registered again with a live owner and parked its pool there {stopped.ElapsedMilliseconds} ms after the owner stopped (OwnerRelayLostAfter 500 ms).");

        using var connector = new RendezvousConnector(ConnectorOptions(a, b));
        var (failures, _) = await ConnectManyAsync(connector, identity.Uuid, 3);
        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Zero);
            Assert.That(connector.Fallbacks, Is.Zero, "the new owner is live: no fallback needed");
            Assert.That(agent.Agent.CurrentRegistrar, Is.EqualTo(b.RegistrarUrl));
            Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
        });
    }

    [Test]
    public async Task Agent_and_connector_move_to_the_next_registrar_when_the_first_one_s_port_is_closed()
    {
        await using var directory = new SharedTestDirectory();
        var node = await directory.StartNodeAsync();
        var closed = new Uri($"https://127.0.0.1:{ClientTestKit.FreePort()}/");
        var identity = NewIdentity();
        var options = ClientTestKit.AgentOptions(node, identity);
        options.RegistrarUrl = closed;
        options.RegistrarUrls = [node.RegistrarUrl];
        await using var agent = RunningAgent.Start(options);
        await agent.WaitParkedAsync();

        var connectorOptions = ClientTestKit.ConnectorOptions(node);
        connectorOptions.RegistrarUrl = closed;
        connectorOptions.RegistrarUrls = [node.RegistrarUrl];
        using var connector = new RendezvousConnector(connectorOptions);
        var (failures, _) = await ConnectManyAsync(connector, identity.Uuid, 2);

        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Zero);
            Assert.That(agent.Agent.CurrentRegistrar, Is.EqualTo(node.RegistrarUrl));
            Assert.That(connector.CurrentRegistrar, Is.EqualTo(node.RegistrarUrl), "it stays with the registrar that answered");
            Assert.That(agent.Agent.Status.Registrations, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Agent_and_connector_move_to_the_next_registrar_when_the_first_answers_503()
    {
        await using var directory = new SharedTestDirectory();
        var a = await directory.StartNodeAsync();
        var b = await directory.StartNodeAsync();
        directory.SetUnavailable(a, true);

        using (var single = new Rendezvous.Client.Registrar.RegistrarClient(a.RegistrarUrl, ClientTestKit.Pinned(a)))
        {
            var refusal = Assert.ThrowsAsync<RendezvousException>(() => single.LookupAsync(Guid.NewGuid().ToString()).WaitAsync(TestTimeouts.Short));
            Assert.Multiple(() =>
            {
                Assert.That(refusal!.Error, Is.EqualTo(RendezvousError.Unavailable));
                Assert.That(refusal.Permanent, Is.False);
                Assert.That(refusal.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(2)));
            });
        }

        var identity = NewIdentity();
        await using var agent = RunningAgent.Start(AgentOptions(a, identity, poolSize: 1, b));
        await ClientTestKit.WaitUntilAsync(() => b.Broker.ParkedCount == 1, "the agent registered through B and parks there", TestTimeouts.Long);
        using var connector = new RendezvousConnector(ConnectorOptions(a, b));
        var (failures, _) = await ConnectManyAsync(connector, identity.Uuid, 2);

        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Zero);
            Assert.That(directory.OwnerOf(identity.Uuid), Is.EqualTo(RelayOf(b)));
            Assert.That(agent.Agent.CurrentRegistrar, Is.EqualTo(b.RegistrarUrl));
            Assert.That(connector.CurrentRegistrar, Is.EqualTo(b.RegistrarUrl));
            Assert.That(agent.Agent.Status.LastError, Is.Null, "a registrar that is down is no error while another answers");
        });
    }

    [TestCase(6, 2, 4, 4, TestName = "Agent_follows_pool_advice_within_its_bounds(advice 6, max 4 -> 4)")]
    [TestCase(1, 2, 4, 2, TestName = "Agent_follows_pool_advice_within_its_bounds(advice 1, min 2 -> 2)")]
    [TestCase(3, 1, 4, 3, TestName = "Agent_follows_pool_advice_within_its_bounds(advice 3 -> 3)")]
    public async Task Agent_follows_pool_advice_within_its_bounds(int advice, int min, int max, int expected)
    {
        await using var directory = new SharedTestDirectory { PoolAdvice = advice };
        var node = await directory.StartNodeAsync();
        var options = ClientTestKit.AgentOptions(node, NewIdentity(), poolSize: 2);
        options.MinPoolSize = min;
        options.MaxPoolSize = max;
        await using var agent = RunningAgent.Start(options);

        await ClientTestKit.WaitUntilAsync(() => node.Broker.ParkedCount == expected && agent.Agent.Status.Parked == expected, $"{expected} parked", TestTimeouts.Long);
        Assert.That(agent.Agent.TargetPoolSize, Is.EqualTo(expected));
    }

    [Test]
    public async Task Agent_without_advice_keeps_its_pool_size_and_a_max_of_its_pool_size_by_default()
    {
        await using var directory = new SharedTestDirectory { PoolAdvice = null };
        var node = await directory.StartNodeAsync();
        await using var agent = RunningAgent.Start(ClientTestKit.AgentOptions(node, NewIdentity(), poolSize: 3));

        await ClientTestKit.WaitUntilAsync(() => node.Broker.ParkedCount == 3, "3 parked", TestTimeouts.Long);
        Assert.That(agent.Agent.TargetPoolSize, Is.EqualTo(3));
    }

    [Test]
    public async Task Agent_grows_its_pool_when_a_whole_pool_is_taken_quickly_and_shrinks_back_after_a_quiet_period()
    {
        await using var directory = new SharedTestDirectory { PoolAdvice = 2 };
        var node = await directory.StartNodeAsync();
        var identity = NewIdentity();
        var options = ClientTestKit.AgentOptions(node, identity, poolSize: 2);
        options.MaxPoolSize = 3;
        options.PoolGrowthWindow = TimeSpan.FromSeconds(10);
        options.PoolShrinkAfter = TimeSpan.FromSeconds(2);
        options.ReparkInterval = TimeSpan.FromSeconds(1);
        await using var agent = RunningAgent.Start(options);
        await ClientTestKit.WaitUntilAsync(() => node.Broker.ParkedCount == 2, "2 parked", TestTimeouts.Long);

        // Two clients take the whole pool at once: the pool grows by one, and no further than MaxPoolSize however many come.
        using var connector = new RendezvousConnector(ClientTestKit.ConnectorOptions(node));
        var sessions = new List<Rendezvous.Client.Sessions.RendezvousSession>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                sessions.Add(await connector.ConnectAsync(identity.Uuid).WaitAsync(TestTimeouts.Long));
            }

            await ClientTestKit.WaitUntilAsync(() => agent.Agent.TargetPoolSize == 3 && node.Broker.ParkedCount == 3, "the pool grew to 3 and 3 are parked", TestTimeouts.Long);
            Assert.That(agent.Agent.TargetPoolSize, Is.EqualTo(3), "never beyond MaxPoolSize");
        }
        finally
        {
            foreach (var session in sessions)
            {
                await session.DisposeAsync();
            }
        }

        // Quiet: back to the advice at a re-park after PoolShrinkAfter, and not below it.
        await ClientTestKit.WaitUntilAsync(() => agent.Agent.TargetPoolSize == 2 && node.Broker.ParkedCount == 2, "the pool shrank back to 2", TestTimeouts.Long);
        Assert.That(agent.Agent.Status.State, Is.EqualTo(HiddenServerState.Registered));
    }
}
