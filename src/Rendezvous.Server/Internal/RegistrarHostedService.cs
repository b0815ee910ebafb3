using System.Net.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Server.Certificates;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Runs the registrar on a Kestrel server of its own, so a plain generic host gets both listeners
/// from <c>AddRendezvousServer()</c>. Disabled when <see cref="RendezvousServerOptions.RegistrarUrl"/> is empty.
/// </summary>
internal sealed class RegistrarHostedService(
    IServiceProvider services,
    IOptions<RendezvousServerOptions> serverOptions,
    IOptions<RegistrarOptions> registrarOptions,
    RegistrarListenerInfo info,
    StartedListeners startedListeners,
    ConnectionCaps caps,
    MemoryTrimmer trimmer,
    ILoggerFactory loggerFactory,
    TimeProvider time) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<RegistrarHostedService>();
    private InnerWebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await StartListeningAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The relay started before us: release its port too, so a failed start leaves nothing bound.
            await startedListeners.CloseAllAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartListeningAsync(CancellationToken cancellationToken)
    {
        var options = serverOptions.Value;
        if (string.IsNullOrEmpty(options.RegistrarUrl))
        {
            return;
        }

        if (!EndpointText.TryParseListenUrl(options.RegistrarUrl, out var https, out var bindTo, out var urlError))
        {
            throw new InvalidOperationException($"Rendezvous:RegistrarUrl {urlError}.");
        }

        var certificate = https ? LoadCertificate(options) : null;
        var builder = InnerWebApplication.CreateBuilder(typeof(RegistrarHostedService).Assembly.GetName().Name, loggerFactory, bindTo, certificate, limits =>
        {
            limits.MaxRequestBodySize = 4096;
            limits.KeepAliveTimeout = TimeSpan.FromSeconds(60);
            limits.MaxConcurrentConnections = caps.RegistrarMaxConnections;
        }, listen => listen.UseJsonErrorBodies(), listen =>
        {
            var perAddress = new ConnectionsPerAddress(caps.RegistrarMaxConnectionsPerAddress, trimmer, _logger);
            listen.Use(next => connection => perAddress.OnConnectionAsync(connection, next));
        });
        builder.Services.AddSingleton(services.GetRequiredService<RegistrarService>());
        var app = builder.Build();
        app.Run(RegistrarEndpoint.HandleAsync);
        _app = await InnerWebApplication.StartAsync(app, certificate, "registrar requests", options.RegistrarUrl, "Choose another Rendezvous:RegistrarUrl (--registrar-url).", cancellationToken).ConfigureAwait(false);
        info.Url = _app.ReachableUrl(options.RegistrarUrl);
        info.CertificateFingerprint = certificate is null ? null : RegistrarCertificates.GetSha256Fingerprint(certificate.TargetCertificate);
        ServerLog.RegistrarListening(_logger, _app.BoundAddress ?? options.RegistrarUrl);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
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

    private SslStreamCertificateContext LoadCertificate(RendezvousServerOptions options)
    {
        var (context, path, created) = WebCertificate.Load(options, registrarOptions.Value.PublicHost, time);
        if (created)
        {
            ServerLog.CertificateGenerated(_logger, path);
        }

        info.CertificatePath = path;
        ServerLog.CertificateFingerprint(_logger, RegistrarCertificates.GetSha256Fingerprint(context.TargetCertificate), path);
        return context;
    }
}

/// <summary>A lifetime that does nothing, for the registrar's inner web application.</summary>
internal sealed class InnerHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// The host's logger factory for the registrar's inner web application, without ASP.NET Core's
/// per-request lines below Warning: they print the query string, which holds the TOTP code.
/// </summary>
internal sealed class RequestLineFilter(ILoggerFactory inner) : ILoggerFactory
{
    private const string RequestCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        return categoryName.StartsWith(RequestCategory, StringComparison.Ordinal) ? new WarningsOnly(logger) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    /// <summary>The outer host owns the factory; disposing the inner application must not dispose it.</summary>
    public void Dispose()
    {
    }

    private sealed class WarningsOnly(ILogger logger) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => logger.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && logger.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                logger.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
