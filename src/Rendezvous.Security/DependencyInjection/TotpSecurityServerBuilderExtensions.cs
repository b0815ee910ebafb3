using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Policy;
using Rendezvous.Security;
using Rendezvous.Security.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Extensions that plug the TOTP security policy into a Rendezvous server.</summary>
public static class TotpSecurityServerBuilderExtensions
{
    /// <summary>
    /// Uses <see cref="TotpRegistrationPolicy"/> to decide who may register, replacing any other policy, with secrets in a
    /// <see cref="SqliteSecretStore"/>, which is also the <see cref="IRegistrationEntryStore"/> the admin page works on
    /// (unless one is registered already), and failure counters in this process (<see cref="MemoryFailureCounterFactory"/>)
    /// unless an <see cref="IFailureCounterFactory"/> is registered (a cluster's <c>AddRedisCluster()</c> registers its shared
    /// store and counters, before or after this call). Options are bound from the configuration section <c>Rendezvous:Security</c> when an
    /// <see cref="IConfiguration"/> is registered, then <paramref name="configure"/> runs, and they are validated at start.
    /// </summary>
    /// <param name="builder">The server builder.</param>
    /// <param name="configure">Changes the options after configuration is bound; optional.</param>
    /// <returns>The same builder.</returns>
    public static IRendezvousServerBuilder AddTotpSecurity(this IRendezvousServerBuilder builder, Action<TotpSecurityOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        IServiceCollection services = builder.Services;

        // Like BindConfiguration("Rendezvous:Security"), but IConfiguration is optional so a plain ServiceCollection works.
        OptionsBuilder<TotpSecurityOptions> options = services.AddOptions<TotpSecurityOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<TotpSecurityOptions>, TotpSecurityConfigureOptions>());
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<TotpSecurityOptions>, TotpSecurityConfigureOptions>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TotpSecurityOptions>, TotpSecurityOptionsValidator>());
        options.ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new SqliteSecretStore(
            sp.GetRequiredService<IOptions<TotpSecurityOptions>>().Value.DatabasePath!,
            (ILogger?)sp.GetService<ILogger<SqliteSecretStore>>() ?? NullLogger.Instance));
        services.TryAddSingleton<SecretStore>(sp => sp.GetRequiredService<SqliteSecretStore>());

        // What the admin page of Rendezvous.Server lists, creates, rotates and removes.
        services.TryAddSingleton<IRegistrationEntryStore>(sp => new SecretStoreEntries(sp.GetRequiredService<SecretStore>(), sp.GetRequiredService<TimeProvider>()));

        // The failure counters: in this process unless another factory (a cluster's shared one) is registered.
        services.TryAddSingleton<IFailureCounterFactory, MemoryFailureCounterFactory>();

        services.RemoveAll<IRegistrationPolicy>();
        services.TryAddSingleton(sp => new TotpRegistrationPolicy(
            sp.GetRequiredService<SecretStore>(),
            sp.GetRequiredService<IOptions<TotpSecurityOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IFailureCounterFactory>(),
            sp.GetService<ILogger<TotpRegistrationPolicy>>(),
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<IRegistrationPolicy>(sp => sp.GetRequiredService<TotpRegistrationPolicy>());
        return builder;
    }
}
