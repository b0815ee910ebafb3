using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Server.Internal;

namespace Rendezvous.Server;

/// <summary>Serves the registrar protocol (PROTOCOL.md section 1) over ASP.NET Core.</summary>
public static class RegistrarEndpoint
{
    /// <summary>Answers one HTTP request with <see cref="RegistrarService"/>. Any path is accepted.</summary>
    /// <param name="context">The request.</param>
    /// <returns>A task that completes when the answer is written.</returns>
    public static async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var services = context.RequestServices;
        var registrar = services.GetRequiredService<RegistrarService>();

        RegistrarResponse response;
        try
        {
            var query = context.Request.Query;
            var request = new RegistrarRequest(
                context.Request.Method,
                FirstOrNull(query["uuid"]),
                FirstOrNull(query["response"]),
                context.Connection.RemoteIpAddress,
                RequestHost(context.Request.Headers.Host));
            response = await registrar.HandleAsync(request, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (services.GetService<ILoggerFactory>()?.CreateLogger(typeof(RegistrarEndpoint)) is { } logger)
            {
                ServerLog.RegistrarRequestFailed(logger, ex);
            }

            response = new RegistrarResponse(500, RegistrarService.ErrorBody(permanent: false, "internal error"));
        }

        await WriteAsync(context, response).ConfigureAwait(false);
    }

    /// <summary>
    /// Maps the registrar at <paramref name="pattern"/> (by default every path, as the original accepted any)
    /// in an ASP.NET Core application, for every method.
    /// </summary>
    /// <param name="endpoints">The application's endpoint builder.</param>
    /// <param name="pattern">The route pattern. Defaults to <c>/{**path}</c>.</param>
    /// <returns>The endpoint convention builder.</returns>
    public static IEndpointConventionBuilder MapRendezvousRegistrar(this IEndpointRouteBuilder endpoints, string pattern = "/{**path}")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.Map(pattern, HandleAsync);
    }

    internal static async Task WriteAsync(HttpContext context, RegistrarResponse response)
    {
        context.Response.StatusCode = response.StatusCode;
        context.Response.ContentType = RegistrarResponse.ContentType;
        context.Response.Headers.CacheControl = "no-store";
        if (response.Allow is { } allow)
        {
            context.Response.Headers.Allow = allow;
        }

        if (response.RetryAfterSeconds is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }

        await context.Response.WriteAsync(response.Body, context.RequestAborted).ConfigureAwait(false);
    }

    private static string? FirstOrNull(Microsoft.Extensions.Primitives.StringValues values) => values.Count == 0 ? null : values[0];

    /// <summary>
    /// The host name of the Host header as sent. Not <see cref="HttpRequest.Host"/>: reading it decodes <c>xn--</c>
    /// labels to Unicode and throws on one that is not valid punycode (<c>Host: xn--zz</c>, which Kestrel lets through).
    /// The original answered with the header as sent too, and a client resolves the ASCII form.
    /// </summary>
    private static string? RequestHost(Microsoft.Extensions.Primitives.StringValues header)
    {
        var host = new HostString(header.ToString());
        if (!host.HasValue)
        {
            return null;
        }

        var name = host.Host;
        return name.Length > 2 && name[0] == '[' && name[^1] == ']' ? name[1..^1] : name;
    }
}
