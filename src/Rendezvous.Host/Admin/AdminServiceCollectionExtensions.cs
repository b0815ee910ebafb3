using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Security.Internal;
using Rendezvous.Server.Internal;

namespace Rendezvous.Host.Admin;

/// <summary>Adds the admin page, <c>/metrics</c> and <c>/healthz</c> to <c>rendezvous serve</c>.</summary>
internal static class AdminServiceCollectionExtensions
{
    /// <summary>
    /// Adds the admin listener with its options (section <c>Rendezvous:Admin</c>, validated at start) and, unless it is
    /// turned off, the OpenTelemetry meter provider whose Prometheus exporter <c>/metrics</c> serves.
    /// </summary>
    public static IServiceCollection AddRendezvousAdmin(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdminOptions>, AdminOptionsValidator>());
        services.TryAddSingleton<AdminListenerInfo>();
        services.AddHostedService<AdminHostedService>();

        var url = configuration[$"{AdminOptions.SectionName}:{nameof(AdminOptions.Url)}"] ?? new AdminOptions().Url;
        if (!AdminOptions.IsOff(url))
        {
            // Counted in the descriptor budget the server checks at start.
            services.AddSingleton(new DescriptorReservation("the admin listener", AdminHostedService.MaxConnections));

            // Nothing collects the meters when nobody can scrape them.
            services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(RendezvousMetrics.MeterName, SecurityMetrics.MeterName)
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());
        }

        return services;
    }
}
