using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Rendezvous.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Extensions that make a Rendezvous server one node of a cluster on Redis.</summary>
public static partial class RedisClusterServerBuilderExtensions
{
    /// <summary>
    /// Makes this server a node of a cluster whose nodes share their state through Redis: the secret store, the TOTP
    /// replay state, the failure throttles and the registration directory, each behind the seam that a single node
    /// fills in memory or SQLite. Call it with <c>AddTotpSecurity()</c> in either order. Options are bound from
    /// <see cref="RedisClusterOptions.SectionName"/> when an <c>IConfiguration</c> is registered, then
    /// <paramref name="configure"/> runs, and they are validated at start.
    /// </summary>
    /// <param name="builder">The server builder.</param>
    /// <param name="configure">Sets the options, at least <see cref="RedisClusterOptions.Configuration"/>; optional when configuration has them.</param>
    /// <returns>The same builder.</returns>
    public static IRendezvousServerBuilder AddRedisCluster(this IRendezvousServerBuilder builder, Action<RedisClusterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<RedisClusterOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<RedisClusterOptions>, RedisClusterConfigureOptions>());
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RedisClusterOptions>, RedisClusterOptionsValidator>());
        options.ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RedisConnection>();
        AddStores(services);
        AddDirectory(services);
        return builder;
    }

    /// <summary>Registers the shared secret store and failure counters (RedisClusterServerBuilderExtensions.Stores.cs).</summary>
    static partial void AddStores(IServiceCollection services);

    /// <summary>Registers the shared registration directory and the node's membership (RedisClusterServerBuilderExtensions.Directory.cs).</summary>
    static partial void AddDirectory(IServiceCollection services);
}
