using Microsoft.Extensions.Diagnostics.HealthChecks;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Server.Admin;

/// <summary>
/// <c>/healthz</c>: unhealthy while the entries store fails (the TOTP secrets database removed or damaged while serving),
/// with the store's reason. Registrations are refused then; lookups and relaying go on. Only added when there is a store.
/// </summary>
internal sealed class EntryStoreHealthCheck(IRegistrationEntryStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = await store.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        return failure is null
            ? HealthCheckResult.Healthy("secrets database readable")
            : HealthCheckResult.Unhealthy($"the secrets database is failing, registrations are answered 503 (retry later): {failure}");
    }
}
