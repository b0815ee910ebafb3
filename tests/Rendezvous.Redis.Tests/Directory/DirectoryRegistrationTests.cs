using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Moq;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Tests.Common;

namespace Rendezvous.Redis.Tests.Directory;

/// <summary>How AddRedisCluster() puts the shared directory in place of the node's own.</summary>
public sealed class DirectoryRegistrationTests
{
    [TestCase(true)]
    [TestCase(false)]
    public void The_redis_directory_replaces_the_local_one_whichever_runs_first(bool clusterFirst)
    {
        var services = new ServiceCollection();
        var policy = Mock.Of<IRegistrationPolicy>();
        if (clusterFirst)
        {
            services.AddRendezvousServerBuilderForTests().AddRedisCluster(o => o.Configuration = "127.0.0.1:1");
            services.AddRendezvousServer().AddPolicy(policy);
        }
        else
        {
            services.AddRendezvousServer().AddPolicy(policy).AddRedisCluster(o => o.Configuration = "127.0.0.1:1");
        }

        Assert.That(services.Where(d => d.ServiceType == typeof(IRegistrationDirectory)).ToList(), Has.Count.EqualTo(1));
        Assert.That(services.Count(d => d.ImplementationType == typeof(RedisNodeMembership) || d.ServiceType == typeof(RedisNodeMembership)), Is.EqualTo(1));
    }

    [Test]
    public async Task A_cluster_node_without_a_public_host_does_not_start_and_says_which_setting_is_missing()
    {
        var policy = Mock.Of<IRegistrationPolicy>();
        var failure = Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var server = await RendezvousTestServer.StartAsync(b => b.AddPolicy(policy).AddRedisCluster(o => o.Configuration = "127.0.0.1:1"));
        });
        Assert.That(failure!.Message, Does.Contain("Rendezvous:Registrar:PublicHost").And.Contain("--public-host"));
        await Task.CompletedTask;
    }

    [Test]
    public void Bad_cluster_timings_are_refused_naming_the_setting()
    {
        var options = new RedisClusterOptions
        {
            Configuration = "127.0.0.1:6379",
            HeartbeatInterval = TimeSpan.FromSeconds(2),
            NodeTimeout = TimeSpan.FromSeconds(3),
            Alternates = 3,
            EntryLifetime = TimeSpan.FromSeconds(10),
            Placement = (RedisPlacement)7,
        };
        var result = new RedisClusterOptionsValidator().Validate(null, options);
        Assert.That(result.Failures, Has.One.Contains("NodeTimeout").And.One.Contains("Alternates").And.One.Contains("EntryLifetime").And.One.Contains("Placement"));
    }
}
