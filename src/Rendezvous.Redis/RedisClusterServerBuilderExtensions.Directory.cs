using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Redis;

namespace Microsoft.Extensions.DependencyInjection;

public static partial class RedisClusterServerBuilderExtensions
{
    /// <summary>
    /// The shared directory replaces the node's local one (whichever of <c>AddRendezvousServer()</c> and
    /// <c>AddRedisCluster()</c> ran first: the server adds its default with TryAdd), the membership joins and beats, and
    /// the registrar's public host becomes required (other nodes hand it out).
    /// </summary>
    static partial void AddDirectory(IServiceCollection services)
    {
        services.TryAddSingleton<RedisRegistrationDirectory>();
        services.RemoveAll<IRegistrationDirectory>();
        services.AddSingleton<IRegistrationDirectory>(sp => sp.GetRequiredService<RedisRegistrationDirectory>());
        services.TryAddSingleton<RedisNodeMembership>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RedisNodeMembership>(sp => sp.GetRequiredService<RedisNodeMembership>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RegistrarOptions>, ClusterRegistrarOptionsValidator>());
        services.AddOptions<RegistrarOptions>().ValidateOnStart();
    }
}
