using Microsoft.AspNetCore.Routing;

namespace Rendezvous.Server.Admin;

/// <summary>
/// Endpoints an app adds to the admin listener, outside its sign-in (as <c>/healthz</c> is): <c>rendezvous serve</c> maps
/// the OpenTelemetry Prometheus exporter at <c>/metrics</c> this way, so that Rendezvous.Server does not depend on
/// OpenTelemetry. Register implementations as singletons in the app's services
/// (<c>services.AddSingleton&lt;IAdminEndpoints, MyEndpoints&gt;()</c>); each is called once when the admin listener starts.
/// </summary>
public interface IAdminEndpoints
{
    /// <summary>
    /// Maps the endpoints. The admin application has services of its own: take what the app's services hold (a meter
    /// provider, say) in the implementation's constructor.
    /// </summary>
    /// <param name="endpoints">The admin application's routes; whatever is mapped here answers without a signed-in session.</param>
    void MapEndpoints(IEndpointRouteBuilder endpoints);
}
