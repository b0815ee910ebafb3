using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Rendezvous.Server.Certificates;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Registrar;

/// <summary>
/// An HTTPS server on 127.0.0.1 that answers every request with what the test says, for answers a real
/// registrar cannot be made to give through the client (404, 405, non-JSON).
/// </summary>
internal sealed class StubRegistrar : IAsyncDisposable
{
    private readonly WebApplication _app;

    private StubRegistrar(WebApplication app, Uri url, string fingerprint)
    {
        _app = app;
        Url = url;
        Fingerprint = fingerprint;
    }

    public Uri Url { get; }

    public string Fingerprint { get; }

    public static async Task<StubRegistrar> StartAsync(int status, string body, string contentType = "application/json", Action<HttpResponse>? headers = null, Action<HttpRequest>? observe = null, TimeSpan? delay = null)
    {
        var certificate = RegistrarCertificates.CreateSelfSigned("stub-registrar", ["127.0.0.1"], TimeSpan.FromDays(1));
        var port = ClientTestKit.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.UseHttps(certificate)));
        var app = builder.Build();
        app.Run(async context =>
        {
            observe?.Invoke(context.Request);
            if (delay is { } wait)
            {
                await Task.Delay(wait, context.RequestAborted);
            }

            context.Response.StatusCode = status;
            context.Response.ContentType = contentType;
            headers?.Invoke(context.Response);
            await context.Response.WriteAsync(body);
        });
        await app.StartAsync().WaitAsync(TestTimeouts.Long);
        return new StubRegistrar(app, new Uri($"https://127.0.0.1:{port}/"), RegistrarCertificates.GetSha256Fingerprint(certificate));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TestTimeouts.Short);
        await _app.DisposeAsync();
    }
}
