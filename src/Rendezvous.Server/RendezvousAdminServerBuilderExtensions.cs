using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Policy;
using Rendezvous.Server.Admin;
using Rendezvous.Server.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the admin web page to a Rendezvous server.</summary>
public static class RendezvousAdminServerBuilderExtensions
{
    /// <summary>
    /// Adds the admin page, <c>/healthz</c> and the endpoints of every registered <see cref="IAdminEndpoints"/> (such as
    /// <c>/metrics</c>) on a listener of their own, as <c>rendezvous serve</c> has them. Options are bound from the
    /// configuration section <c>Rendezvous:Admin</c> (see <see cref="AdminOptions"/>), then <paramref name="configure"/>
    /// runs, and they are validated at start; <see cref="AdminListenerInfo"/> tells where it listens. The entries pages
    /// work on the registered <see cref="IRegistrationEntryStore"/> (<c>AddTotpSecurity()</c> registers one); without one
    /// they say that the server's policy provides no entries store, and the rest of the page works as usual.
    /// </summary>
    /// <param name="builder">The server builder <c>AddRendezvousServer()</c> returned.</param>
    /// <param name="configure">Changes the options after configuration is bound; optional.</param>
    /// <returns>The same builder.</returns>
    public static IRendezvousServerBuilder AddAdminPage(this IRendezvousServerBuilder builder, Action<AdminOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.SectionName).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>());
        services.TryAddSingleton<AdminListenerInfo>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, AdminHostedService>());

        // Counted in the descriptor budget the server checks at start (nothing when the listener is off).
        services.AddSingleton(sp => new DescriptorReservation(
            "the admin listener",
            sp.GetRequiredService<IOptions<AdminOptions>>().Value.Enabled ? AdminHostedService.MaxConnections : 0));
        return builder;
    }
}
