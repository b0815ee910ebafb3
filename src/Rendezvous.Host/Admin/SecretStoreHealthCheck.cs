using Microsoft.Extensions.Diagnostics.HealthChecks;
using Rendezvous.Security;

namespace Rendezvous.Host.Admin;

/// <summary>
/// <c>/healthz</c>: unhealthy while the secret store fails (its database removed or damaged while serving), with the
/// store's reason. Registrations are refused then; lookups and relaying go on.
/// </summary>
internal sealed class SecretStoreHealthCheck(SecretStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = await store.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        return failure is null
            ? HealthCheckResult.Healthy("secrets database readable")
            : HealthCheckResult.Unhealthy($"the secrets database is failing, registrations are refused: {failure}");
    }
}
