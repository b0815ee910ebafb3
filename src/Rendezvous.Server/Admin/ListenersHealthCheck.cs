using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Registrar;

namespace Rendezvous.Server.Admin;

/// <summary>
/// <c>/healthz</c>: healthy while the relay listener and the registrar (unless turned off) are bound and the service
/// is not shutting down; unhealthy before they are bound and while draining.
/// </summary>
internal sealed class ListenersHealthCheck(
    RendezvousEndpoint relay,
    RegistrarListenerInfo registrar,
    IOptions<RendezvousServerOptions> serverOptions,
    IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("shutting down: listeners closed, live sessions draining"));
        }

        if (relay.Port == 0)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the rendezvous relay is not listening"));
        }

        var registrarOn = !string.IsNullOrEmpty(serverOptions.Value.RegistrarUrl);
        if (registrarOn && registrar.Url is null)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("the registrar is not listening"));
        }

        var registrarText = registrarOn ? $"registrar at {registrar.Url}" : "built-in registrar turned off";
        return Task.FromResult(HealthCheckResult.Healthy($"relay on port {relay.Port}, {registrarText}"));
    }
}
