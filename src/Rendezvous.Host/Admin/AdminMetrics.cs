using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using Rendezvous.Protocol.Diagnostics;
using Rendezvous.Security;
using Rendezvous.Server.Admin;

namespace Rendezvous.Host.Admin;

/// <summary>
/// <c>/metrics</c> on the admin listener of <c>rendezvous serve</c>: the OpenTelemetry meter provider with its Prometheus
/// exporter, mapped through <see cref="IAdminEndpoints"/> (Rendezvous.Server itself does not depend on OpenTelemetry).
/// </summary>
internal sealed class AdminMetrics(MeterProvider meterProvider) : IAdminEndpoints
{
    /// <summary>
    /// Unless the admin listener is turned off (nothing would collect the meters when nobody can scrape them), adds the
    /// meter provider for the server's and the TOTP policy's meters and the runtime's, and maps its exporter at
    /// <c>/metrics</c>, outside the sign-in (a scraper has no session; see docs/admin.md).
    /// </summary>
    public static IServiceCollection AddAdminMetrics(IServiceCollection services, IConfiguration configuration)
    {
        var url = configuration[$"{AdminOptions.SectionName}:{nameof(AdminOptions.Url)}"] ?? AdminOptions.DefaultUrl;
        if (!AdminOptions.IsOff(url))
        {
            services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(RendezvousMetrics.MeterName, TotpSecurityMetrics.MeterName)
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter());
            services.AddSingleton<IAdminEndpoints, AdminMetrics>();
        }

        return services;
    }

    public void MapEndpoints(IEndpointRouteBuilder endpoints) =>
        endpoints.MapPrometheusScrapingEndpoint("/metrics", meterProvider, configureBranchedPipeline: null, optionsName: null);
}
