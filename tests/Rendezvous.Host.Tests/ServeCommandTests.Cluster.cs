using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Sessions;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests;

// Cluster: three `rendezvous serve --cluster` processes on one real redis-server (sharing one data folder, so one
// registrar certificate; the secrets in Redis), and our hidden-server agent registered through them: kill the node it
// parks at, by its process id, and measure until a mobile client reaches it again through another node.
public sealed partial class ServeCommandTests
{
    [GeneratedRegex(@"Cluster node (?<id>\S+) \(relay 127\.0\.0\.1:[0-9]+\) joined the cluster on Redis 127\.0\.0\.1:[0-9]+")]
    private static partial Regex Joined();

    private sealed record ClusterNode(RendezvousProcess Process, string Id, Uri RegistrarUrl, int RelayPort, string Fingerprint);

    [Test]
    [NonParallelizable]
    public async Task Cluster_killing_the_node_a_hidden_server_parks_at_makes_it_reachable_through_another_node_within_5_seconds()
    {
        Assume.That(RedisServer.IsInstalled, "redis-server is not installed (eng/test.sh installs it)");
        await using var redis = await RedisServer.StartAsync();
        var data = _directory;
        var added = await RendezvousProcess.RunAsync(data.Path, ExitTimeout, "users", "add", "--cluster", redis.EndPoint);
        Assert.That(added.ExitCode, Is.Zero, added.Error);
        var uuid = UuidLine().Match(added.Output).Groups["uuid"].Value;
        var secret = SecretLine().Match(added.Output).Groups["secret"].Value;

        var nodes = new List<ClusterNode>();
        try
        {
            // One after the other: the first creates the shared certificate, the others load it.
            foreach (var id in new[] { "n1", "n2", "n3" })
            {
                nodes.Add(await StartNodeAsync(data.Path, redis.EndPoint, id));
            }

            Assert.That(nodes.Select(n => n.Fingerprint).Distinct().Count(), Is.EqualTo(1), "one registrar certificate for every node");

            // The registrar name with several addresses (DNS with three A records): a connection goes to the first that answers.
            var registrars = nodes.Select(n => new IPEndPoint(IPAddress.Loopback, n.RegistrarUrl.Port)).ToArray();
            await using var registrarName = new CapturingTcpProxy(registrars[0]) { Fallbacks = registrars[1..] };
            var options = new HiddenServerAgentOptions
            {
                RegistrarUrl = new Uri($"https://127.0.0.1:{registrarName.EndPoint.Port}/"),
                Uuid = uuid,
                Secret = secret,
                PoolSize = 1,
                InitialBackoff = TimeSpan.FromMilliseconds(100),
                MaxBackoff = TimeSpan.FromMilliseconds(500),
                OwnershipCheckInterval = TimeSpan.FromSeconds(1),
                ConnectTimeout = TimeSpan.FromSeconds(2),
            };
            options.Trust.PinnedFingerprint = nodes[0].Fingerprint;
            using var agent = new HiddenServerAgent(options, EchoAsync);
            using var stop = new CancellationTokenSource();
            var running = agent.RunAsync(stop.Token);
            await WaitUntilAsync(() => agent.Status.Parked >= 1, "the agent parked");

            using var lookups = RegistrarClient.CreatePinned(nodes[2].RegistrarUrl, nodes[0].Fingerprint);
            var ownerPort = (await lookups.LookUpAsync(uuid)).Triple.Port;
            var owner = nodes.Single(n => n.RelayPort == ownerPort);
            Assert.That(await ReachAsync(lookups, uuid), Is.Not.Null, "reachable before the kill");
            var survivor = nodes.First(n => n != owner);
            using var survivorLookups = RegistrarClient.CreatePinned(survivor.RegistrarUrl, nodes[0].Fingerprint);

            // Killed at once, usually within the TOTP step of the registration: registering again in that step costs no
            // wait (the agent's code source sends the next step's code once the reused one is refused as a replay).
            using (var victim = Process.GetProcessById(owner.Process.Id))
            {
                victim.Kill();
            }

            var watch = Stopwatch.StartNew();
            int? reachedAt = null;
            while (watch.Elapsed < TimeSpan.FromSeconds(30) && reachedAt is null)
            {
                reachedAt = await ReachAsync(survivorLookups, uuid);
                if (reachedAt is null)
                {
                    await Task.Delay(50);
                }
            }

            var recovery = watch.Elapsed;
            TestContext.Out.WriteLine($"owner {owner.Id} killed (SIGKILL): the hidden server was reachable again through {nodes.Single(n => n.RelayPort == reachedAt).Id} after {recovery.TotalMilliseconds:F0} ms");
            Assert.That(reachedAt, Is.Not.Null, $"never reachable again; agent: {agent.Status}");
            Assert.That(recovery, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(5)), "the goal: every hidden server reachable again within 5 s of the kill");

            await stop.CancelAsync();
            await running.WaitAsync(TestTimeouts.Long);
        }
        finally
        {
            foreach (var node in nodes)
            {
                node.Process.Dispose();
            }
        }
    }

    [TestCase("--cluster 127.0.0.1:6379", "Rendezvous:Registrar:PublicHost is required in a cluster (--public-host NAME)")]
    [TestCase("--node-id n1", "--node-id (Rendezvous:Cluster:NodeId) names a node of a cluster: give the cluster's Redis with --cluster too")]
    [TestCase("--public-host 127.0.0.1 --cluster 127.0.0.1:6379,nosuchoption=1", "Rendezvous:Cluster:Configuration '127.0.0.1:6379,nosuchoption=1' is not a StackExchange.Redis configuration string")]
    public async Task Cluster_flags_that_cannot_work_are_refused_with_a_clear_message(string flags, string message)
    {
        var (exitCode, _, error) = await RendezvousProcess.RunAsync(_directory.Path, ExitTimeout, ServeArgs(flags.Split(' ')));

        Assert.That(exitCode, Is.EqualTo(Rendezvous.Host.Commands.ServeCommand.StartFailed), error);
        AssertCleanRefusal(error);
        Assert.That(error, Does.Contain(message));
    }

    private static async Task<ClusterNode> StartNodeAsync(string data, string redis, string id)
    {
        var process = RendezvousProcess.Start(
            data,
            new Dictionary<string, string> { ["Rendezvous__Cluster__Alternates"] = "0", ["Rendezvous__DrainTimeout"] = "00:00:01" },
            "serve", "--data-dir", data, "--registrar-url", "https://127.0.0.1:0", "--rendezvous-endpoint", "127.0.0.1:0", "--admin-url", "none",
            "--public-host", "127.0.0.1", "--cluster", redis, "--node-id", id);
        try
        {
            var fingerprint = (await process.WaitForOutputAsync(Fingerprint())).Groups["fingerprint"].Value;
            var relay = int.Parse((await process.WaitForOutputAsync(RelayListening())).Groups["port"].Value, CultureInfo.InvariantCulture);
            var url = new Uri((await process.WaitForOutputAsync(RegistrarListening())).Groups["url"].Value);
            Assert.That((await process.WaitForOutputAsync(Joined())).Groups["id"].Value, Is.EqualTo(id));
            return new ClusterNode(process, id, url, relay, fingerprint);
        }
        catch
        {
            process.Dispose();
            throw;
        }
    }

    /// <summary>Looks the UUID up and pairs with it as a mobile client; the relay port it paired at, or null.</summary>
    private static async Task<int?> ReachAsync(HttpClient registrar, string uuid)
    {
        RegistrarReply lookup;
        try
        {
            lookup = await registrar.LookUpAsync(uuid);
        }
        catch (HttpRequestException)
        {
            return null;
        }

        if (!lookup.Json.TryGetProperty("result", out _))
        {
            return null;
        }

        try
        {
            using var client = await LoopbackClient.ConnectWithLineAsync(new IPEndPoint(IPAddress.Loopback, lookup.Triple.Port), lookup.Triple.Cookie);
            if (await client.ReadLineAsync(TimeSpan.FromSeconds(3)) != "+OK")
            {
                return null;
            }

            await client.SendAsync("ping\n");
            return await client.ReadLineAsync(TimeSpan.FromSeconds(3)) == "ping" ? lookup.Triple.Port : null;
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or TimeoutException)
        {
            return null;
        }
    }

    private static async Task EchoAsync(RendezvousSession session, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        int read;
        while ((read = await session.Stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await session.Stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }

        await session.CompleteSendingAsync();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(watch.Elapsed, Is.LessThan(TestTimeouts.Long), what);
            await Task.Delay(20);
        }
    }
}
