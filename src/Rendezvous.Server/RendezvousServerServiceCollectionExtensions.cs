using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Protocol.Transport;
using Rendezvous.Server;
using Rendezvous.Server.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a Rendezvous server (registrar + rendezvous relay) in a generic host or ASP.NET Core application.</summary>
public static class RendezvousServerServiceCollectionExtensions
{
    /// <summary>
    /// Adds the rendezvous relay and the registrar as hosted services, with options bound from the
    /// <c>Rendezvous</c> configuration section and validated at start, as <c>rendezvous serve</c> runs them: the host's
    /// shutdown timeout covers <see cref="RendezvousServerOptions.DrainTimeout"/>, and socket completions run inline
    /// unless <see cref="RendezvousServerOptions.InlineSocketCompletions"/> is false. A policy must be added too,
    /// usually with <c>.AddTotpSecurity()</c>, or any <see cref="IRegistrationPolicy"/> with
    /// <see cref="RendezvousServerBuilderExtensions.AddPolicy{TPolicy}"/>. The relay listens through the
    /// <see cref="IRelayListenerFactory"/> in the service collection: the socket transport unless the application
    /// registered its own (before or after this call).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes settings after configuration is applied.</param>
    /// <returns>A builder to add the policy with.</returns>
    public static IRendezvousServerBuilder AddRendezvousServer(this IServiceCollection services, Action<RendezvousServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);

        var server = services.AddOptions<RendezvousServerOptions>()
            .BindConfiguration(RendezvousServerOptions.SectionName)
            .Configure<Microsoft.Extensions.Configuration.IConfiguration>(SocketCompletionMode.Bind)
            .ValidateOnStart();
        if (configure is not null)
        {
            server.Configure(configure);
        }

        services.AddOptions<RendezvousRelayOptions>().BindConfiguration("Rendezvous:Relay").ValidateOnStart();
        services.AddOptions<RegistrarOptions>().BindConfiguration("Rendezvous:Registrar").ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RendezvousServerOptions>, ServerOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RendezvousRelayOptions>, ServerOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RegistrarOptions>, ServerOptionsValidator>());

        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RendezvousMetrics>(sp => new RendezvousMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<RendezvousBroker>();
        services.TryAddSingleton(sp => new PoolAdvisor(
            sp.GetRequiredService<RendezvousBroker>(),
            sp.GetRequiredService<IOptionsMonitor<RendezvousRelayOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<RendezvousMetrics>(),
            () => sp.GetRequiredService<ConnectionCaps>().RelayMaxConnections));
        services.TryAddSingleton<IRegistrationDirectory, LocalRegistrationDirectory>();
        services.TryAddSingleton<RendezvousEndpoint>();
        services.TryAddSingleton<RendezvousConnectionHandler>();
        services.TryAddSingleton<RegistrarService>();
        services.TryAddSingleton<RegistrarListenerInfo>();
        services.TryAddSingleton<StartedListeners>();

        // The relay's transport (Rendezvous:Relay:Transport) unless the application registered another IRelayListenerFactory.
        services.TryAddSingleton<IRelayListenerFactory>(sp => RelayListenerService.CreateTransport(
            sp.GetRequiredService<IOptions<RendezvousRelayOptions>>().Value));
        services.AddSingleton(sp => new DescriptorReservation(
            "the epoll transport's splice pipes",
            sp.GetRequiredService<IRelayListenerFactory>() is EpollRelayListenerFactory ? EpollRelayListenerFactory.SplicePipeDescriptors : 0));
        services.TryAddSingleton<MemoryTrimmer>();
        services.TryAddSingleton(sp => new ConnectionCaps(
            sp.GetRequiredService<IOptions<RendezvousServerOptions>>(),
            sp.GetRequiredService<IOptions<RendezvousRelayOptions>>(),
            sp.GetServices<DescriptorReservation>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<ConnectionCaps>>(),
            DescriptorLimit.Read(),
            DescriptorLimit.CountOpen()));

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<HostOptions>, ShutdownTimeoutFromDrain>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, SocketCompletionMode>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RelayListenerService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RegistrarHostedService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, MemoryTrimmer>(sp => sp.GetRequiredService<MemoryTrimmer>()));
        return new RendezvousServerBuilder(services);
    }

    private sealed class RendezvousServerBuilder(IServiceCollection services) : IRendezvousServerBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
