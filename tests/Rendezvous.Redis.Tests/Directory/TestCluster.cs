using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Tests.Common;

namespace Rendezvous.Redis.Tests.Directory;

/// <summary>
/// Three (or more) nodes in this process, each a whole server (registrar on HTTPS, relay on TCP, own loopback ports)
/// with <c>AddRedisCluster()</c> on one real redis-server. The policy is a Moq that accepts every code (the policy seam).
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private StackExchange.Redis.ConnectionMultiplexer? _statsConnection;

    private TestCluster(RedisServer redis, string prefix, List<TestNode> nodes)
    {
        Redis = redis;
        Prefix = prefix;
        Nodes = nodes;
    }

    public RedisServer Redis { get; }

    public string Prefix { get; }

    public List<TestNode> Nodes { get; }

    public TestNode this[int index] => Nodes[index];

    /// <summary>Starts <paramref name="count"/> nodes named a, b, c... and waits until each sees all of them live.</summary>
    public static async Task<TestCluster> StartAsync(RedisServer redis, int count = 3, int alternates = 0, Action<RedisClusterOptions>? configure = null)
    {
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8] + ":";
        var policy = new Mock<IRegistrationPolicy>();
        policy.Setup(p => p.AuthorizeAsync(It.IsAny<RegistrationRequest>(), It.IsAny<CancellationToken>()))
            .Returns(ValueTask.FromResult(RegistrationDecision.Accept()));
        var nodes = new List<TestNode>();
        var cluster = new TestCluster(redis, prefix, nodes);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var name = ((char)('a' + i)).ToString();
                var server = await RendezvousTestServer.StartAsync(
                    b => b.AddPolicy(policy.Object).AddRedisCluster(o =>
                    {
                        o.Configuration = redis.EndPoint;
                        o.NodeId = name;
                        o.KeyPrefix = prefix;
                        o.Alternates = alternates;
                        configure?.Invoke(o);
                    }),
                    new Dictionary<string, string?> { ["Rendezvous:Registrar:PublicHost"] = "127.0.0.1" });
                nodes.Add(new TestNode(name, server));
            }

            await Eventually.ThatAsync(() => Task.FromResult(nodes.All(n => n.Directory.LiveNodes.Count == count)), "every node sees every node");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Redis's <c>INFO commandstats</c> call counts by command (lower case).</summary>
    /// <remarks>Through one connection kept for the purpose: a new one would add its own commands (a tie-breaker GET).</remarks>
    public async Task<Dictionary<string, long>> CommandStatsAsync()
    {
        var connection = _statsConnection ??= await Redis.ConnectAsync();
        var info = await connection.GetServer(IPAddress.Loopback, Redis.Port).InfoAsync("commandstats").WaitAsync(TestTimeouts.Short);
        var stats = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var pair in info.SelectMany(g => g))
        {
            // cmdstat_evalsha: calls=12,usec=...
            var calls = pair.Value.Split(',')[0].Split('=')[1];
            stats[pair.Key["cmdstat_".Length..]] = long.Parse(calls, System.Globalization.CultureInfo.InvariantCulture);
        }

        return stats;
    }

    public async ValueTask DisposeAsync()
    {
        if (_statsConnection is not null)
        {
            await _statsConnection.DisposeAsync();
        }

        foreach (var node in Nodes)
        {
            await node.Server.DisposeAsync();
        }
    }
}

/// <summary>One node of a <see cref="TestCluster"/>.</summary>
internal sealed class TestNode(string name, RendezvousTestServer server)
{
    public string Name { get; } = name;

    public RendezvousTestServer Server { get; } = server;

    public RedisRegistrationDirectory Directory => Server.Services.GetRequiredService<RedisRegistrationDirectory>();

    public IPEndPoint Relay => Server.RelayEndPoint;

    public HttpClient Registrar() => Server.CreateRegistrarClient();

    public override string ToString() => Name;
}

/// <summary>Polls a condition (every 20 ms) until it holds or a timeout passes: for state that settles by itself.</summary>
internal static class Eventually
{
    public static async Task ThatAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? TestTimeouts.Long;
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > limit)
            {
                Assert.Fail($"{what}: not within {limit}");
            }

            await Task.Delay(20);
        }
    }
}
