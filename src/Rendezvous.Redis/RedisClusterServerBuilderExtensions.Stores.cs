using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rendezvous.Protocol.Policy;
using Rendezvous.Redis;
using Rendezvous.Security;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>The shared secret store and failure counters of a cluster node.</summary>
public static partial class RedisClusterServerBuilderExtensions
{
    /// <summary>
    /// Makes <see cref="RedisSecretStore"/> the <see cref="SecretStore"/> (so the TOTP policy, its replay state and the
    /// admin page all use Redis, and no SQLite file is created) and <see cref="RedisFailureCounterFactory"/> the
    /// <see cref="IFailureCounterFactory"/>. Replaces what <c>AddTotpSecurity()</c> registered before, and stays when it is
    /// called after (it only adds what is missing).
    /// </summary>
    static partial void AddStores(IServiceCollection services)
    {
        services.TryAddSingleton(sp => new RedisSecretStore(
            sp.GetRequiredService<RedisConnection>(),
            (ILogger?)sp.GetService<ILogger<RedisSecretStore>>() ?? NullLogger.Instance));
        services.RemoveAll<SecretStore>();
        services.AddSingleton<SecretStore>(sp => sp.GetRequiredService<RedisSecretStore>());

        services.TryAddSingleton(sp => new RedisFailureCounterFactory(
            sp.GetRequiredService<RedisConnection>(),
            sp.GetService<ILogger<RedisFailureCounterFactory>>()));
        services.RemoveAll<IFailureCounterFactory>();
        services.AddSingleton<IFailureCounterFactory>(sp => sp.GetRequiredService<RedisFailureCounterFactory>());
    }
}
