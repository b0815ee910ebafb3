using System.Net;
using System.Net.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Rendezvous.Server.Internal;

/// <summary>
/// An ASP.NET Core application on a Kestrel server of its own inside a generic host (the registrar, the admin page of
/// <c>rendezvous serve</c>): one listen endpoint, the outer host's logger factory, and no lifetime of its own (the outer
/// host owns Ctrl-C, SIGTERM and the start/stop messages). Owns the application and its certificate (the context's
/// <see cref="SslStreamCertificateContext.TargetCertificate"/>).
/// </summary>
internal sealed class InnerWebApplication : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SslStreamCertificateContext? _certificate;

    private InnerWebApplication(WebApplication app, SslStreamCertificateContext? certificate)
    {
        _app = app;
        _certificate = certificate;
    }

    /// <summary>The address Kestrel bound, with the real port when port 0 was asked for.</summary>
    public string? BoundAddress => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();

    /// <summary>
    /// A builder listening on <paramref name="bindTo"/> (HTTPS with <paramref name="certificate"/> when given, which
    /// sends the context's intermediates in every handshake), with common limits; <paramref name="connection"/>, when
    /// given, adds connection middleware inside TLS (after <c>UseHttps</c>); <paramref name="beforeTls"/>, when given,
    /// connection middleware that runs first, before the TLS handshake.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(
        string? applicationName, ILoggerFactory loggerFactory, IPEndPoint bindTo, SslStreamCertificateContext? certificate, Action<KestrelServerLimits> limits, Action<ListenOptions>? connection = null, Action<ListenOptions>? beforeTls = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = applicationName });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<ILoggerFactory>(new RequestLineFilter(loggerFactory));
        builder.Services.AddSingleton<IHostLifetime, InnerHostLifetime>();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            limits(kestrel.Limits);
            kestrel.Listen(bindTo, listen =>
            {
                // HTTP/2 needs TLS (ALPN) here; plain http serves HTTP/1.1.
                listen.Protocols = certificate is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
                beforeTls?.Invoke(listen);
                if (certificate is not null)
                {
                    // The context as built (offline, with the file's intermediates): UseHttps(X509Certificate2) would
                    // build its own at start, completing the chain from the system store or the network instead.
                    listen.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions { ServerCertificateContext = certificate }),
                    });
                }

                connection?.Invoke(listen);
            });
        });
        return builder;
    }

    /// <summary>Starts <paramref name="app"/>; when its endpoint cannot be bound (in use, not an address of this machine, not allowed), disposes it and throws a message that ends with <paramref name="fix"/>.</summary>
    /// <exception cref="InvalidOperationException">The endpoint cannot be bound.</exception>
    public static async Task<InnerWebApplication> StartAsync(WebApplication app, SslStreamCertificateContext? certificate, string what, string url, string fix, CancellationToken cancellationToken)
    {
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            // Kestrel wraps "address in use" in an IOException but lets other bind errors through as they are
            // (an address this machine does not have, a privileged port).
            await app.DisposeAsync().ConfigureAwait(false);
            certificate?.TargetCertificate.Dispose();
            throw new InvalidOperationException($"Cannot listen for {what} on {url}: {ex.Message.TrimEnd('.')}. {fix}", ex);
        }

        return new InnerWebApplication(app, certificate);
    }

    /// <summary>The bound URL, with a wildcard address replaced by loopback so it can be used to connect; <paramref name="configured"/> when unknown.</summary>
    public Uri ReachableUrl(string configured) => BoundAddress is { } bound
        ? new Uri(bound.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "[::1]", StringComparison.Ordinal))
        : new Uri(configured);

    public Task StopAsync(CancellationToken cancellationToken) => _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync().ConfigureAwait(false);
        _certificate?.TargetCertificate.Dispose();
    }
}
