using System.Net;
using System.Net.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Server.Internal;

namespace Rendezvous.Server.Admin;

/// <summary>
/// Runs the admin page, <c>/healthz</c> and the <see cref="IAdminEndpoints"/> (<c>/metrics</c>) on a Kestrel server of
/// their own (like the registrar), sharing the outer host's singletons. It starts after the relay and the registrar and stops only after they have
/// (in <see cref="StoppedAsync"/>), so <c>/healthz</c> answers 503 while sessions drain. Off when the URL is <c>none</c>.
/// </summary>
internal sealed class AdminHostedService(
    IServiceProvider services,
    IOptions<AdminOptions> adminOptions,
    IOptions<RendezvousServerOptions> serverOptions,
    IOptions<RegistrarOptions> registrarOptions,
    AdminListenerInfo info,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory,
    TimeProvider time) : IHostedLifecycleService, IAsyncDisposable
{
    /// <summary>How many connections the admin listener holds open at once.</summary>
    public const int MaxConnections = 100;

    private readonly ILogger _logger = loggerFactory.CreateLogger<AdminHostedService>();
    private InnerWebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = adminOptions.Value;
        if (!options.Enabled)
        {
            return;
        }

        if (!EndpointText.TryParseListenUrl(options.Url, out var https, out var bindTo, out _))
        {
            throw new InvalidOperationException($"Rendezvous:Admin:Url '{options.Url}' is not http://HOST:PORT or https://HOST:PORT.");
        }

        var token = AdminToken.Resolve(options.Token, serverOptions.Value.DataDirectory);
        if (token.Generated)
        {
            AdminLog.TokenGenerated(_logger, token.FilePath!);
        }
        else if (token.Narrowed)
        {
            AdminLog.TokenFileNarrowed(_logger, token.FilePath!);
        }

        var certificate = https ? LoadCertificate() : null;
        var app = Build(options, token, bindTo, certificate);
        _app = await InnerWebApplication.StartAsync(app, certificate, "the admin page", options.Url!, $"Choose another Rendezvous:Admin:Url (--admin-url), or '{AdminOptions.Off}' to turn the admin page off.", cancellationToken).ConfigureAwait(false);
        var bound = _app.BoundAddress ?? options.Url!;
        info.Url = _app.ReachableUrl(options.Url!);
        info.TokenFile = token.FilePath;
        if (!IPAddress.IsLoopback(bindTo.Address))
        {
            AdminLog.ListeningRemotely(_logger, bound);
        }

        if (token.FilePath is { } file)
        {
            AdminLog.Listening(_logger, bound, file);
        }
        else
        {
            AdminLog.ListeningWithConfiguredToken(_logger, bound);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops the admin listener once every other service has stopped, so /healthz reports the drain.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (_app is { } app)
        {
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private WebApplication Build(AdminOptions options, AdminToken token, IPEndPoint bindTo, SslStreamCertificateContext? certificate)
    {
        var https = certificate is not null;
        // Routing's "Executing endpoint" / "Executed endpoint" would add two Information lines per page view, and the
        // health check service an Error per /healthz request while a check fails.
        var logs = new DemotingLoggerFactory(loggerFactory, ownsInner: false, LogDemotion.EndpointExecution, LogDemotion.HealthCheckResults);
        var builder = InnerWebApplication.CreateBuilder(typeof(AdminHostedService).Assembly.GetName().Name, logs, bindTo, certificate, limits =>
        {
            limits.MaxRequestBodySize = AdminEndpoints.MaxFormBytes;
            limits.MaxConcurrentConnections = MaxConnections;
        });

        // Anti-forgery tokens need keys; they live in memory only, so a restart ends every open form (and sessions end too).
        builder.Services.AddDataProtection();
        builder.Services.Configure<KeyManagementOptions>(keys =>
        {
            keys.XmlRepository = new MemoryXmlRepository();
            keys.XmlEncryptor = new NullXmlEncryptor();
        });
        builder.Services.AddAntiforgery(antiforgery =>
        {
            antiforgery.FormFieldName = AdminEndpoints.CsrfField;
            antiforgery.HeaderName = null;
            antiforgery.Cookie.Name = AdminEndpoints.CsrfCookie;
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = https ? CookieSecurePolicy.Always : CookieSecurePolicy.None;
            antiforgery.SuppressXFrameOptionsHeader = true;
        });
        builder.Services.Configure<FormOptions>(form =>
        {
            form.ValueCountLimit = AdminEndpoints.MaxFormFields;
            form.KeyLengthLimit = 64;
            form.ValueLengthLimit = AdminEndpoints.MaxFieldLength;
            form.MultipartBodyLengthLimit = AdminEndpoints.MaxFormBytes;
        });
        var store = services.GetService<IRegistrationEntryStore>();
        var checks = builder.Services.AddHealthChecks().AddCheck("listeners", new ListenersHealthCheck(
            services.GetRequiredService<RendezvousEndpoint>(),
            services.GetRequiredService<RegistrarListenerInfo>(),
            serverOptions,
            lifetime));
        if (store is not null)
        {
            checks.AddCheck("secrets", new EntryStoreHealthCheck(store));
        }

        var app = builder.Build();
        var endpoints = new AdminEndpoints(
            store,
            services.GetRequiredService<RendezvousBroker>(),
            services.GetRequiredService<IRegistrationDirectory>(),
            services.GetRequiredService<RegistrarListenerInfo>(),
            registrarOptions,
            token,
            new AdminSessions(time, options.SessionLifetime),
            new FailureThrottle(time, options.MaxLoginFailures, options.LoginFailureWindow, maxKeys: 10_000),
            https,
            _logger,
            services.GetService<PoolAdvisor>());

        app.Use(AddSecurityHeaders);
        app.Use(endpoints.CatchAsync);
        if (IPAddress.IsLoopback(bindTo.Address))
        {
            app.Use(AdminEndpoints.RequireLocalHostAsync);
        }

        app.UseStatusCodePages(status => AdminEndpoints.DescribeStatusAsync(status.HttpContext));

        // Not behind the sign-in: a scraper or a load balancer has no session (see docs/admin.md).
        MapOpenEndpoints(app);
        app.UseHealthChecks("/healthz", new HealthCheckOptions { ResponseWriter = WriteHealthAsync });
        app.Use(endpoints.GateAsync);
        endpoints.Map(app);
        return app;
    }

    /// <summary>
    /// Maps the app's <see cref="IAdminEndpoints"/> (<c>/metrics</c>) in a group whose endpoints the sign-in gate lets
    /// through (<see cref="AdminEndpoints.OpenEndpoint"/>).
    /// </summary>
    private void MapOpenEndpoints(WebApplication app)
    {
        var extra = services.GetServices<IAdminEndpoints>().ToArray();
        if (extra.Length == 0)
        {
            return;
        }

        var group = app.MapGroup(string.Empty);
        group.WithMetadata(AdminEndpoints.OpenEndpoint.Instance);
        foreach (var endpoints in extra)
        {
            endpoints.MapEndpoints(group);
        }
    }

    private static Task AddSecurityHeaders(HttpContext context, RequestDelegate next)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.XContentTypeOptions = "nosniff";
        // Exactly what anti-forgery sets on pages with forms, so it has nothing to override (and nothing to warn about).
        headers.CacheControl = "no-cache, no-store";
        headers.Pragma = "no-cache";
        return next(context);
    }

    private static Task WriteHealthAsync(HttpContext context, Microsoft.Extensions.Diagnostics.HealthChecks.HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var detail = string.Join("; ", report.Entries.Values.Select(e => e.Description).Where(d => !string.IsNullOrEmpty(d)));
        return context.Response.WriteAsync($"{report.Status}: {detail}\n", context.RequestAborted);
    }

    /// <summary>The registrar's certificate: the configured PEM pair with its chain, or the one generated in the data directory.</summary>
    private SslStreamCertificateContext LoadCertificate() =>
        WebCertificate.Load(serverOptions.Value, registrarOptions.Value.PublicHost, time).Context;
}
