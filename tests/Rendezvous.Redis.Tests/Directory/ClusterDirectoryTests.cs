using System.Diagnostics;
using System.Globalization;
using System.Net;
using Rendezvous.Tests.Common;

namespace Rendezvous.Redis.Tests.Directory;

/// <summary>Three in-process nodes on one real redis-server: registration, lookup, pairing and supersede through any node.</summary>
[NonParallelizable]
public sealed class ClusterDirectoryTests
{
    private RedisServer _redis = null!;

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        Assume.That(RedisServer.IsInstalled, "redis-server is not installed (eng/test.sh installs it)");
        _redis = await RedisServer.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private static string NewUuid() => Guid.NewGuid().ToString();

    private static string SingleNodeBody(IPEndPoint relay, string cookie)
        => string.Create(CultureInfo.InvariantCulture, $"{{\"result\":{{\"host\":\"127.0.0.1\",\"port\":{relay.Port},\"cookie\":\"{cookie}\"}}}}");

    private static IPEndPoint EndPointOf(RegistrarTriple triple) => new(IPAddress.Parse(triple.Host), triple.Port);

    [Test]
    public async Task Register_via_A_names_A_a_lookup_via_B_answers_the_same_bytes_as_one_node_and_the_pair_splices_at_A()
    {
        await using var cluster = await TestCluster.StartAsync(_redis);
        var uuid = NewUuid();
        using var a = cluster[0].Registrar();
        using var b = cluster[1].Registrar();

        var registration = await a.RegisterAsync(uuid, "123456");
        var triple = registration.Triple;
        var lookup = await b.LookUpAsync(uuid);

        Assert.Multiple(() =>
        {
            Assert.That(registration.Body, Is.EqualTo(SingleNodeBody(cluster[0].Relay, triple.Cookie).Replace("\"}}", "\",\"pool\":1}}", StringComparison.Ordinal)), "the registration names node A, with pool advice only");
            Assert.That(lookup.Body, Is.EqualTo(SingleNodeBody(cluster[0].Relay, triple.InitiatorCookie)), "node B answers A's triple, byte for byte as one node would");
        });
        await RelayRoundTrip.AssertPairsAndSplicesAsync(EndPointOf(lookup.Triple), triple.Cookie, lookup.Triple.Cookie);
    }

    [Test]
    public async Task A_registration_names_an_alternate_which_adopts_the_R_line_and_pairs_and_a_third_node_refuses_it()
    {
        await using var cluster = await TestCluster.StartAsync(_redis, alternates: 1);
        var uuid = NewUuid();
        using var a = cluster[0].Registrar();
        using var c = cluster[2].Registrar();

        var registration = await a.RegisterAsync(uuid, "123456");
        var triple = registration.Triple;
        var alternates = registration.Json.GetProperty("result").GetProperty("alternates").EnumerateArray()
            .Select(e => e.GetProperty("port").GetInt32()).ToArray();
        Assert.That(alternates, Has.Length.EqualTo(1));
        var alternate = cluster.Nodes.Single(n => n.Relay.Port == alternates[0]);
        var third = cluster.Nodes.Single(n => n != cluster[0] && n != alternate);

        var lookup = await c.LookUpAsync(uuid);
        Assert.That(lookup.Body, Is.EqualTo(
            string.Create(CultureInfo.InvariantCulture, $"{{\"result\":{{\"host\":\"127.0.0.1\",\"port\":{cluster[0].Relay.Port},\"cookie\":\"{triple.InitiatorCookie}\",\"alternates\":[{{\"host\":\"127.0.0.1\",\"port\":{alternate.Relay.Port}}}]}}}}")),
            "a lookup through any node: the owner's triple plus the alternate");

        // The alternate did not issue the registration: the R line makes it adopt it, and it pairs there.
        Assert.That(alternate.Server.Broker.GetGeneration(uuid), Is.Zero, "not adopted before its hidden server parks");
        await RelayRoundTrip.AssertPairsAndSplicesAsync(alternate.Relay, triple.Cookie, lookup.Triple.Cookie);

        // A node the registration does not name refuses its R line.
        using var stranger = await LoopbackClient.ConnectWithLineAsync(third.Relay, triple.Cookie);
        Assert.That(await stranger.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        Assert.That(third.Server.Broker.GetGeneration(uuid), Is.Zero);
    }

    [Test]
    public async Task Re_registration_via_C_closes_the_connections_parked_at_A_within_a_second()
    {
        await using var cluster = await TestCluster.StartAsync(_redis);
        var uuid = NewUuid();
        using var a = cluster[0].Registrar();
        using var c = cluster[2].Registrar();
        var first = (await a.RegisterAsync(uuid, "123456")).Triple;
        using var parked = await LoopbackClient.ConnectWithLineAsync(cluster[0].Relay, first.Cookie);
        await Eventually.ThatAsync(() => Task.FromResult(cluster[0].Server.Broker.ParkedCount == 1), "parked at A");

        var watch = Stopwatch.StartNew();
        var second = (await c.RegisterAsync(uuid, "654321")).Triple;
        var end = await parked.WaitForEndAsync(TestTimeouts.Short);
        var elapsed = watch.Elapsed;
        TestContext.Out.WriteLine($"re-registration via C to A's parked socket closed: {elapsed.TotalMilliseconds:F0} ms");

        Assert.Multiple(() =>
        {
            Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(1)), "A closes the old parks within a second");
            Assert.That(end, Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
            Assert.That(second.Port, Is.EqualTo(cluster[2].Relay.Port), "the new registration parks at C");
            Assert.That(cluster[0].Server.Broker.GetGeneration(uuid), Is.Zero, "A holds no registration of the UUID any more");
        });

        // The old R value is refused at A (superseded), the new one parks at C.
        using var stale = await LoopbackClient.ConnectWithLineAsync(cluster[0].Relay, first.Cookie);
        Assert.That(await stale.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
    }

    [TestCase(1)]
    [TestCase(0)]
    public async Task When_the_owner_dies_lookups_via_B_answer_the_alternate_or_not_registered_within_the_node_timeout(int alternates)
    {
        await using var cluster = await TestCluster.StartAsync(_redis, alternates: alternates);
        var uuid = NewUuid();
        using var a = cluster[0].Registrar();
        using var b = cluster[1].Registrar();
        var registration = await a.RegisterAsync(uuid, "123456");
        var alternatePort = alternates == 0 ? 0 : registration.Json.GetProperty("result").GetProperty("alternates")[0].GetProperty("port").GetInt32();
        var deadPort = cluster[0].Relay.Port;

        await cluster[0].Server.CrashAsync();
        var watch = Stopwatch.StartNew();
        var nodeTimeout = new RedisClusterOptions().NodeTimeout;
        TimeSpan? switched = null;
        while (watch.Elapsed < nodeTimeout + TimeSpan.FromSeconds(3))
        {
            var lookup = await b.LookUpAsync(uuid);
            var answersDead = lookup.Json.TryGetProperty("result", out var result) && result.GetProperty("port").GetInt32() == deadPort;
            if (switched is null && !answersDead)
            {
                switched = watch.Elapsed;
            }

            if (switched is not null)
            {
                Assert.That(answersDead, Is.False, $"after {switched} B answered the dead node again: {lookup.Body}");
                if (alternates == 0)
                {
                    Assert.That(lookup.IsError(permanent: false) && lookup.Body.Contains("not registered", StringComparison.Ordinal), Is.True, lookup.Body);
                }
                else
                {
                    Assert.That(lookup.Triple.Port, Is.EqualTo(alternatePort), lookup.Body);
                    Assert.That(lookup.Json.GetProperty("result").TryGetProperty("alternates", out _), Is.False, "the dead owner is not offered as an alternate");
                }
            }

            await Task.Delay(50);
        }

        TestContext.Out.WriteLine($"lookups via B stopped naming the killed owner after {switched?.TotalMilliseconds:F0} ms (NodeTimeout {nodeTimeout.TotalMilliseconds} ms)");
        Assert.That(switched, Is.Not.Null.And.LessThanOrEqualTo(nodeTimeout + TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task Without_Redis_registrations_and_lookups_answer_503_quickly_parked_pairs_still_pair_and_it_recovers_without_restarts()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var cluster = await TestCluster.StartAsync(redis);
        var uuid = NewUuid();
        using var a = cluster[0].Registrar();
        using var b = cluster[1].Registrar();
        var triple = (await a.RegisterAsync(uuid, "123456")).Triple;
        var lookup = (await b.LookUpAsync(uuid)).Triple;
        using var parked = await LoopbackClient.ConnectWithLineAsync(cluster[0].Relay, triple.Cookie);
        await Eventually.ThatAsync(() => Task.FromResult(cluster[0].Server.Broker.ParkedCount == 1), "parked at A");

        await redis.KillAsync();

        var watch = Stopwatch.StartNew();
        var register = await b.RegisterAsync(NewUuid(), "123456");
        var registerTime = watch.Elapsed;
        watch.Restart();
        var find = await a.LookUpAsync(uuid);
        var lookupTime = watch.Elapsed;
        TestContext.Out.WriteLine($"Redis killed: registration answered {(int)register.Status} in {registerTime.TotalMilliseconds:F0} ms, lookup {(int)find.Status} in {lookupTime.TotalMilliseconds:F0} ms");
        Assert.Multiple(() =>
        {
            Assert.That(register.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), register.Body);
            Assert.That(register.RetryAfter, Is.Not.Null);
            Assert.That(register.IsError(permanent: false), Is.True, register.Body);
            Assert.That(find.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), find.Body);
            Assert.That(registerTime, Is.LessThan(TimeSpan.FromSeconds(3)));
            Assert.That(lookupTime, Is.LessThan(TimeSpan.FromSeconds(3)));
        });

        // The pair A already holds still pairs: the initiator's cookie is A's, no Redis needed.
        using (var initiator = await LoopbackClient.ConnectWithLineAsync(cluster[0].Relay, lookup.Cookie))
        {
            Assert.That(await initiator.ReadLineAsync(), Is.EqualTo("+OK"));
            Assert.That(await parked.ReadLineAsync(), Is.EqualTo("+OK"));
        }

        // A cookie A does not hold is refused (no adoption without Redis), quickly.
        using (var unknown = await LoopbackClient.ConnectWithLineAsync(cluster[0].Relay, "Inothere"))
        {
            Assert.That(await unknown.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        }

        // Redis comes back empty (not persistent here): until a node's next heartbeat (HeartbeatInterval) its record is
        // missing, and lookups of registrations it owns answer not registered; then everything is as before.
        await redis.RestartAsync();
        var again = NewUuid();
        await Eventually.ThatAsync(async () => (await b.RegisterAsync(again, "123456")).Status == HttpStatusCode.OK, "registration through B works again");
        await Eventually.ThatAsync(async () => (await a.LookUpAsync(again)).Body.Contains("\"result\"", StringComparison.Ordinal), "B's record is back and a lookup through A names it");
        var after = await a.LookUpAsync(again);
        Assert.That(after.Triple.Port, Is.EqualTo(cluster[1].Relay.Port), after.Body);
        await Eventually.ThatAsync(() => Task.FromResult(cluster.Nodes.All(n => n.Directory.LiveNodes.Count == 3)), "heartbeats resumed on every node");

        // The subscription resumed too: a re-registration through C closes a park at B.
        var moved = (await b.RegisterAsync(again, "123456")).Triple;
        using var parkedAtB = await LoopbackClient.ConnectWithLineAsync(cluster[1].Relay, moved.Cookie);
        await Eventually.ThatAsync(() => Task.FromResult(cluster[1].Server.Broker.ParkedCount == 1), "parked at B");
        using var c = cluster[2].Registrar();
        await c.RegisterAsync(again, "123456");
        Assert.That(await parkedAtB.WaitForEndAsync(TimeSpan.FromSeconds(2)), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
    }

    [Test]
    public async Task Unregistering_removes_the_entry_everywhere_and_closes_the_parks()
    {
        await using var cluster = await TestCluster.StartAsync(_redis);
        var uuid = NewUuid();
        using var a = cluster[0].Registrar();
        using var b = cluster[1].Registrar();
        var triple = (await a.RegisterAsync(uuid, "123456")).Triple;
        using var parked = await LoopbackClient.ConnectWithLineAsync(cluster[0].Relay, triple.Cookie);
        await Eventually.ThatAsync(() => Task.FromResult(cluster[0].Server.Broker.ParkedCount == 1), "parked at A");

        Assert.That(await cluster[1].Directory.UnregisterAsync(uuid).AsTask().WaitAsync(TestTimeouts.Short), Is.True);

        Assert.That(await parked.WaitForEndAsync(TimeSpan.FromSeconds(2)), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset));
        var lookup = await b.LookUpAsync(uuid);
        Assert.That(lookup.Body, Does.Contain("not registered"));
        Assert.That(await cluster[1].Directory.UnregisterAsync(uuid).AsTask().WaitAsync(TestTimeouts.Short), Is.False);
    }

    [Test]
    public async Task Least_loaded_placement_sends_the_hidden_server_to_the_node_with_fewest_parked_connections()
    {
        await using var cluster = await TestCluster.StartAsync(_redis, configure: o => o.Placement = RedisPlacement.LeastLoaded);
        using var a = cluster[0].Registrar();

        // Load A and B with parked connections; C stays empty.
        var parks = new List<LoopbackClient>();
        try
        {
            foreach (var node in new[] { cluster[0], cluster[1] })
            {
                using var registrar = node.Registrar();
                for (var i = 0; i < 3; i++)
                {
                    var uuid = NewUuid();
                    var triple = (await registrar.RegisterAsync(uuid, "123456")).Triple;
                    var owner = cluster.Nodes.Single(n => n.Relay.Port == triple.Port);
                    parks.Add(await LoopbackClient.ConnectWithLineAsync(owner.Relay, triple.Cookie));
                }
            }

            await Eventually.ThatAsync(() => Task.FromResult(cluster.Nodes.Sum(n => n.Server.Broker.ParkedCount) == 6), "six parked");
            var loads = cluster.Nodes.ToDictionary(n => n.Name, n => n.Server.Broker.ParkedCount);
            var least = loads.MinBy(l => l.Value).Key;
            await Eventually.ThatAsync(
                () => Task.FromResult(cluster[0].Directory.LiveNodes.Single(n => n.Id == least).Load == loads[least]
                    && cluster[0].Directory.LiveNodes.All(n => n.Load == loads[n.Id])),
                "A saw the loads in a heartbeat");

            var placed = (await a.RegisterAsync(NewUuid(), "123456")).Triple;
            // Registrations placed while loading spread too, so nodes may tie: any node with the fewest is right.
            var chosen = cluster.Nodes.Single(n => n.Relay.Port == placed.Port).Name;
            Assert.That(loads[chosen], Is.EqualTo(loads[least]), $"placed at {chosen}; loads {string.Join(", ", loads)}");
        }
        finally
        {
            parks.ForEach(p => p.Dispose());
        }
    }

    [Test]
    public async Task A_flood_of_one_unknown_cookie_costs_Redis_one_lookup_per_mode()
    {
        await using var cluster = await TestCluster.StartAsync(_redis, count: 1);
        var node = cluster[0];
        var before = await cluster.CommandStatsAsync();
        for (var i = 0; i < 200; i++)
        {
            using var client = await LoopbackClient.ConnectWithLineAsync(node.Relay, i % 2 == 0 ? "Rsame-unknown-cookie" : "Isame-unknown-cookie");
            Assert.That(await client.ReadLineAsync(), Is.EqualTo("-ERR not registered"));
        }

        var after = await cluster.CommandStatsAsync();
        var lookups = after.GetValueOrDefault("get") - before.GetValueOrDefault("get");
        TestContext.Out.WriteLine($"200 handshakes with one unknown cookie (R and I): {lookups} index reads in Redis");
        Assert.That(lookups, Is.LessThanOrEqualTo(2), "the negative cache answers the repeats (one I value for the I lines, one for the R lines)");
        Assert.That(node.Directory.Adoptions.MissCount, Is.LessThanOrEqualTo(2));
    }

    [Test]
    public async Task Redis_memory_and_commands_per_registration_and_lookup_are_measured()
    {
        await using var cluster = await TestCluster.StartAsync(_redis, alternates: 1);
        using var a = cluster[0].Registrar();
        using var b = cluster[1].Registrar();
        const int n = 200;
        var uuids = Enumerable.Range(0, n).Select(_ => NewUuid()).ToArray();

        // Heartbeats run meanwhile (3 nodes, 1 a second): measured apart and subtracted.
        var before = await cluster.CommandStatsAsync();
        var watch = Stopwatch.StartNew();
        var triples = new List<RegistrarTriple>();
        foreach (var uuid in uuids)
        {
            triples.Add((await a.RegisterAsync(uuid, "123456")).Triple);
        }

        var middle = await cluster.CommandStatsAsync();
        var registerTime = watch.Elapsed;
        watch.Restart();
        foreach (var uuid in uuids)
        {
            Assert.That((await b.LookUpAsync(uuid)).Status, Is.EqualTo(HttpStatusCode.OK));
        }

        var after = await cluster.CommandStatsAsync();
        var lookupTime = watch.Elapsed;

        await using var connection = await cluster.Redis.ConnectAsync();
        var db = connection.GetDatabase();
        var entryBytes = (long)await db.ExecuteAsync("MEMORY", "USAGE", cluster.Prefix + "reg:" + uuids[0]);
        var indexBytes = (long)await db.ExecuteAsync("MEMORY", "USAGE", cluster.Prefix + "ini:" + triples[0].InitiatorCookie[1..]);

        static string Delta(Dictionary<string, long> from, Dictionary<string, long> to, int count)
            => string.Join(", ", to.Where(kv => kv.Value - from.GetValueOrDefault(kv.Key) > 0 && kv.Key is not ("info" or "ping" or "client|setname" or "subscribe"))
                .Select(kv => $"{kv.Key} {(kv.Value - from.GetValueOrDefault(kv.Key)) / (double)count:F2}"));
        TestContext.Out.WriteLine($"per registration ({n}, {registerTime.TotalMilliseconds / n:F2} ms each over HTTPS): {Delta(before, middle, n)}");
        TestContext.Out.WriteLine($"per lookup ({n}, {lookupTime.TotalMilliseconds / n:F2} ms each over HTTPS): {Delta(middle, after, n)}");
        TestContext.Out.WriteLine($"MEMORY USAGE: entry {entryBytes} B, index {indexBytes} B, {entryBytes + indexBytes} B per registration");

        Assert.Multiple(() =>
        {
            Assert.That((after.GetValueOrDefault("evalsha") - middle.GetValueOrDefault("evalsha")) / (double)n, Is.LessThan(1.2), "one script call per lookup (plus heartbeats)");
            Assert.That(entryBytes + indexBytes, Is.LessThan(1024));
        });
    }

    [Test]
    public async Task A_stale_read_never_adopts_a_registration_older_than_one_announced_meanwhile()
    {
        await using var cluster = await TestCluster.StartAsync(_redis, count: 1);
        var node = cluster[0];
        await using var connection = await cluster.Redis.ConnectAsync();
        var db = connection.GetDatabase();

        // Two registrations naming this node, as another node would have written them (generation 5).
        var (stale, fresh) = (NewUuid(), NewUuid());
        foreach (var uuid in new[] { stale, fresh })
        {
            await db.HashSetAsync(cluster.Prefix + "reg:" + uuid, [new("i", "I-" + uuid), new("g", "5"), new("o", "a"), new("a", "")]);
            await db.StringSetAsync(cluster.Prefix + "ini:I-" + uuid, uuid);
        }

        // A newer registration of the first was announced (its entry not yet visible to this read, as in a race).
        await connection.GetSubscriber().PublishAsync(StackExchange.Redis.RedisChannel.Literal(cluster.Prefix + "events"), "6 " + stale);
        await Eventually.ThatAsync(() => Task.FromResult(node.Directory.AnnouncedGeneration(stale) == 6), "the announcement arrived");

        Assert.Multiple(async () =>
        {
            Assert.That(await node.Directory.TryAdoptAsync("I-" + stale).AsTask().WaitAsync(TestTimeouts.Short), Is.False, "generation 5 after 6 was announced");
            Assert.That(node.Server.Broker.GetGeneration(stale), Is.Zero);
            Assert.That(await node.Directory.TryAdoptAsync("I-" + fresh).AsTask().WaitAsync(TestTimeouts.Short), Is.True, "nothing newer announced");
            Assert.That(node.Server.Broker.GetGeneration(fresh), Is.EqualTo(5));
        });
    }

    [Test]
    public async Task A_node_that_stops_gracefully_is_no_longer_named_at_once()
    {
        await using var cluster = await TestCluster.StartAsync(_redis);
        var uuid = NewUuid();
        using var a = cluster[0].Registrar();
        using var b = cluster[1].Registrar();
        await a.RegisterAsync(uuid, "123456");

        await cluster[0].Server.StopAsync();
        var lookup = await b.LookUpAsync(uuid);
        Assert.That(lookup.Body, Does.Contain("not registered"), "its record was deleted on the way out, no NodeTimeout to wait for");
    }

    [Test]
    public async Task Renewal_extends_the_entries_a_node_holds_and_drops_those_Redis_no_longer_has()
    {
        await using var cluster = await TestCluster.StartAsync(_redis, count: 1);
        var node = cluster[0];
        using var registrar = node.Registrar();
        var (kept, lost) = (NewUuid(), NewUuid());
        var keptTriple = (await registrar.RegisterAsync(kept, "123456")).Triple;
        var lostTriple = (await registrar.RegisterAsync(lost, "123456")).Triple;
        using var parked = await LoopbackClient.ConnectWithLineAsync(node.Relay, lostTriple.Cookie);
        await Eventually.ThatAsync(() => Task.FromResult(node.Server.Broker.ParkedCount == 1), "parked");

        await using var connection = await cluster.Redis.ConnectAsync();
        var db = connection.GetDatabase();
        var entry = cluster.Prefix + "reg:" + kept;
        var index = cluster.Prefix + "ini:" + keptTriple.InitiatorCookie[1..];
        await db.KeyExpireAsync(entry, TimeSpan.FromSeconds(30));
        await db.KeyExpireAsync(index, TimeSpan.FromSeconds(30));
        await db.KeyDeleteAsync(cluster.Prefix + "reg:" + lost);

        Assert.That(await node.Directory.RenewAsync(CancellationToken.None).WaitAsync(TestTimeouts.Short), Is.True);

        var lifetime = new RedisClusterOptions().EntryLifetime;
        Assert.Multiple(async () =>
        {
            Assert.That(await db.KeyTimeToLiveAsync(entry), Is.GreaterThan(lifetime - TimeSpan.FromMinutes(1)), "entry renewed");
            Assert.That(await db.KeyTimeToLiveAsync(index), Is.GreaterThan(lifetime - TimeSpan.FromMinutes(1)), "index renewed");
            Assert.That(await parked.WaitForEndAsync(TestTimeouts.Short), Is.AnyOf(PeerEnd.Closed, PeerEnd.Reset), "a registration Redis lost is dropped here");
            Assert.That(node.Server.Broker.GetGeneration(lost), Is.Zero);
            Assert.That(node.Server.Broker.GetGeneration(kept), Is.Not.Zero);
            Assert.That(node.Directory.HeldCount, Is.EqualTo(1));
        });
    }
}
