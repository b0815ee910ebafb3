using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Client.Agent;
using Rendezvous.Client.Connector;
using Rendezvous.Client.Sessions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Rendezvous client pieces: a hidden-server agent as a hosted service, or a mobile-client connector.</summary>
public static class RendezvousClientServiceCollectionExtensions
{
    /// <summary>The configuration section hidden-server options are bound from.</summary>
    public const string HiddenServerSection = "Rendezvous:HiddenServer";

    /// <summary>The configuration section connector options are bound from.</summary>
    public const string ClientSection = "Rendezvous:Client";

    /// <summary>
    /// Runs a <see cref="HiddenServerAgent"/> as a hosted service that hands every session to
    /// <typeparamref name="THandler"/>. Options come from <c>Rendezvous:HiddenServer</c> and
    /// <paramref name="configure"/>, and are validated at start. Registration codes come from
    /// <see cref="HiddenServerAgentOptions.CodeSource"/> when set, else from an <see cref="IRegistrationCodeSource"/>
    /// registered in DI (for a registrar with a policy of its own), else TOTP codes from the options' secret.
    /// </summary>
    /// <typeparam name="THandler">Serves sessions; resolved once from DI.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets options in code (e.g. the authenticator).</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddRendezvousHiddenServer<THandler>(this IServiceCollection services, Action<HiddenServerAgentOptions>? configure = null)
        where THandler : class, IRendezvousSessionHandler
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<HiddenServerAgentOptions>().BindConfiguration(HiddenServerSection).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.PostConfigure<IServiceProvider>((o, sp) => o.CodeSource ??= sp.GetService<IRegistrationCodeSource>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HiddenServerAgentOptions>, ClientOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IRendezvousSessionHandler, THandler>();
        services.TryAddSingleton(sp =>
        {
            var handler = sp.GetRequiredService<IRendezvousSessionHandler>();
            return new HiddenServerAgent(
                sp.GetRequiredService<IOptions<HiddenServerAgentOptions>>().Value,
                handler.HandleAsync,
                sp.GetRequiredService<TimeProvider>(),
                sp.GetService<ILogger<HiddenServerAgent>>(),
                sp.GetService<System.Diagnostics.Metrics.IMeterFactory>());
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, HiddenServerAgent>(sp => sp.GetRequiredService<HiddenServerAgent>()));
        return services;
    }

    /// <summary>
    /// Registers a <see cref="RendezvousConnector"/> (the mobile-client side). Options come from
    /// <c>Rendezvous:Client</c> and <paramref name="configure"/>, and are validated at start.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets options in code (e.g. the authenticator).</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddRendezvousClient(this IServiceCollection services, Action<RendezvousConnectorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<RendezvousConnectorOptions>().BindConfiguration(ClientSection).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RendezvousConnectorOptions>, ClientOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new RendezvousConnector(
            sp.GetRequiredService<IOptions<RendezvousConnectorOptions>>().Value,
            sp.GetRequiredService<TimeProvider>()));
        return services;
    }

    private sealed class ClientOptionsValidator : IValidateOptions<HiddenServerAgentOptions>, IValidateOptions<RendezvousConnectorOptions>
    {
        public ValidateOptionsResult Validate(string? name, HiddenServerAgentOptions options) => Check(options.Validate);

        public ValidateOptionsResult Validate(string? name, RendezvousConnectorOptions options) => Check(options.Validate);

        private static ValidateOptionsResult Check(Action validate)
        {
            try
            {
                validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException ex)
            {
                return ValidateOptionsResult.Fail(ex.Message);
            }
        }
    }
}
