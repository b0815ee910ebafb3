using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Rendezvous.Redis.Tests;

public sealed class RedisClusterOptionsTests
{
    private static string[] Failures(Action<RedisClusterOptions> configure)
    {
        var options = new RedisClusterOptions();
        configure(options);
        var result = new RedisClusterOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures!] : [];
    }

    [Test]
    public void A_cluster_without_a_redis_configuration_is_refused_with_an_example()
    {
        Assert.That(Failures(_ => { }), Has.One.Contains("Rendezvous:Cluster:Configuration is required").And.One.Contains("127.0.0.1:6379"));
    }

    [Test]
    public void A_configuration_string_that_does_not_parse_names_the_value()
    {
        Assert.That(Failures(o => o.Configuration = "127.0.0.1:6379,nosuchoption=1"), Has.One.Contains("'127.0.0.1:6379,nosuchoption=1'"));
    }

    [TestCase("")]
    [TestCase("node a")]
    public void A_bad_node_id_is_refused(string node)
    {
        Assert.That(Failures(o => { o.Configuration = "127.0.0.1:6379"; o.NodeId = node; }), Has.One.Contains("NodeId"));
    }

    [Test]
    public void Good_options_pass_and_bind_from_the_cluster_section()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Rendezvous:Cluster:Configuration"] = "127.0.0.1:6379", ["Rendezvous:Cluster:NodeId"] = "node-a" })
            .Build());
        services.AddRendezvousServerBuilderForTests().AddRedisCluster();
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<RedisClusterOptions>>().Value;

        Assert.Multiple(() =>
        {
            Assert.That(options.Configuration, Is.EqualTo("127.0.0.1:6379"));
            Assert.That(options.NodeId, Is.EqualTo("node-a"));
            Assert.That(options.KeyPrefix, Is.EqualTo("rendezvous:"));
        });
    }
}

/// <summary>A bare <see cref="IRendezvousServerBuilder"/> over a service collection, for registration tests.</summary>
internal static class TestServerBuilder
{
    public static IRendezvousServerBuilder AddRendezvousServerBuilderForTests(this IServiceCollection services) => new Builder(services);

    private sealed class Builder(IServiceCollection services) : IRendezvousServerBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
