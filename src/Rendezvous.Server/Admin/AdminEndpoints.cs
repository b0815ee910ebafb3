using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;

namespace Rendezvous.Server.Admin;

/// <summary>
/// The admin site's requests: sign-in and sign-out, the gate that keeps every other page behind a session, and the
/// pages. Shares the service's singletons (entries store, broker, registrar facts) with the outer host. Without an
/// entries store (a policy that has none) the pages show the relay's view and say what they cannot do.
/// </summary>
internal sealed partial class AdminEndpoints(
    IRegistrationEntryStore? store,
    RendezvousBroker broker,
    IRegistrationDirectory directory,
    RegistrarListenerInfo registrar,
    IOptions<RegistrarOptions> registrarOptions,
    AdminToken token,
    AdminSessions sessions,
    FailureThrottle loginFailures,
    bool https,
    ILogger logger,
    PoolAdvisor? advisor)
{
    /// <summary>The form field that carries the anti-forgery token.</summary>
    public const string CsrfField = "csrf";

    /// <summary>The session cookie.</summary>
    public const string SessionCookie = "rendezvous-admin";

    /// <summary>The anti-forgery cookie.</summary>
    public const string CsrfCookie = "rendezvous-admin-csrf";

    /// <summary>The largest request body accepted, in bytes.</summary>
    public const int MaxFormBytes = 16 * 1024;

    /// <summary>The most fields a form may have.</summary>
    public const int MaxFormFields = 16;

    /// <summary>The longest value of a form field, in characters.</summary>
    public const int MaxFieldLength = 4096;

    private const string HtmlContentType = "text/html; charset=utf-8";

    /// <summary>Maps every page.</summary>
    public void Map(WebApplication app)
    {
        app.MapGet("/admin.css", Stylesheet);
        app.MapGet("/login", LoginFormAsync);
        app.MapPost("/login", LoginAsync);
        app.MapPost("/logout", LogoutAsync);
        app.MapGet("/", ListAsync);
        app.MapGet("/entries/new", NewEntryFormAsync);
        app.MapPost("/entries", CreateAsync);
        app.MapGet("/entries/{uuid}", ShowAsync);
        app.MapGet("/entries/{uuid}/config", DownloadAsync);
        app.MapGet("/entries/{uuid}/rotate", ConfirmRotateAsync);
        app.MapPost("/entries/{uuid}/rotate", RotateAsync);
        app.MapGet("/entries/{uuid}/delete", ConfirmDeleteAsync);
        app.MapPost("/entries/{uuid}/delete", DeleteAsync);
    }

    /// <summary>
    /// Lets signed-in requests, the sign-in page, the stylesheet and sign-out through (signing out of a session that has
    /// ended already, e.g. in a second tab, still just leads to the sign-in page); sends the rest to sign in.
    /// </summary>
    public async Task GateAsync(HttpContext context, RequestDelegate next)
    {
        var path = context.Request.Path;
        if (context.GetEndpoint()?.Metadata.GetMetadata<OpenEndpoint>() is not null
            || path.Equals("/login", StringComparison.Ordinal) || path.Equals("/admin.css", StringComparison.Ordinal) || path.Equals("/logout", StringComparison.Ordinal) || IsSignedIn(context))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            Redirect(context, "/login");
            return;
        }

        await WriteAsync(context, StatusCodes.Status401Unauthorized, AdminPages.Error("Sign in first", "This needs a signed-in session, and yours is missing or has ended. Sign in and try again.")).ConfigureAwait(false);
    }

    /// <summary>
    /// The host name of the request's Host header as sent (an IDN stays in its <c>xn--</c> form). Not
    /// <c>HttpRequest.Host.Host</c>: reading that decodes <c>xn--</c> labels and throws on one that is not valid punycode
    /// (<c>Host: xn--zz</c>, which Kestrel lets through; found by eng/fuzz.sh query on the registrar).
    /// </summary>
    internal static string RequestHostName(HttpContext context) => new HostString(context.Request.Headers.Host.ToString()).Host;

    /// <summary>
    /// On a loopback listener, refuses (421) a request whose Host is a name other than <c>localhost</c>: a browser sends
    /// such a Host only when a web page's domain was made to resolve to 127.0.0.1 (DNS rebinding), and that page must not
    /// read <c>/metrics</c> or spend the sign-in attempts. Tunnels, scrapers and proxies send an IP address or localhost.
    /// </summary>
    public static async Task RequireLocalHostAsync(HttpContext context, RequestDelegate next)
    {
        var host = RequestHostName(context);
        if (host.Length == 0
            || string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || System.Net.IPAddress.TryParse(host.TrimStart('[').TrimEnd(']'), out _))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, StatusCodes.Status421MisdirectedRequest, AdminPages.Error(
            "Wrong host name",
            $"This listener is on loopback and answers only requests addressed to an IP address or localhost, not to '{host}'. Open it as http://127.0.0.1:PORT (through ssh -L when remote); a proxy in front of it must not pass its own Host on.")).ConfigureAwait(false);
    }

    /// <summary>Answers a request that failed unexpectedly with a 500 page instead of a dropped connection.</summary>
    public async Task CatchAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A failing secrets database is logged once per change of state by the store: a page view while it fails
            // answers 503 naming the reason, without a stack trace in the log per view.
            var storeProblem = await StoreProblemAsync(context.RequestAborted).ConfigureAwait(false);
            if (storeProblem is null)
            {
                AdminLog.RequestFailed(logger, ex);
            }
            else
            {
                AdminLog.StoreUnavailable(logger, context.Request.Path.ToString(), storeProblem);
            }

            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
                await WriteAsync(context, storeProblem is null ? StatusCodes.Status500InternalServerError : StatusCodes.Status503ServiceUnavailable, storeProblem is null
                    ? AdminPages.Error("Something failed", $"The request failed: {ex.Message}")
                    : AdminPages.Error("Secrets database unavailable", $"The secrets database is failing: {storeProblem} Pages that read or change entries work again once it is back; /healthz reports its state.")).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Why the secrets store is failing, or null when it works (or cannot say, or there is none).</summary>
    private async Task<string?> StoreProblemAsync(CancellationToken cancellationToken)
    {
        if (store is null)
        {
            return null;
        }

        try
        {
            return await store.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return ex.Message;
        }
    }

    /// <summary>Gives an empty-bodied error (no such page, wrong method) a page that says what happened.</summary>
    public static Task DescribeStatusAsync(HttpContext context)
    {
        var (title, message) = context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound => ("Not found", $"There is no page at {context.Request.Path}."),
            StatusCodes.Status405MethodNotAllowed => ("Method not allowed", $"{context.Request.Method} is not accepted at {context.Request.Path}; use the links and buttons of the pages."),
            var status => ("Request refused", $"The request was refused with status {status}."),
        };
        context.Response.ContentType = HtmlContentType;
        return context.Response.WriteAsync(AdminPages.Render(AdminPages.Error(title, message)), context.RequestAborted);
    }

    private static Task Stylesheet(HttpContext context)
    {
        context.Response.ContentType = "text/css; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        return context.Response.WriteAsync(AdminPages.Stylesheet, context.RequestAborted);
    }

    private Task LoginFormAsync(HttpContext context)
    {
        if (IsSignedIn(context))
        {
            Redirect(context, "/");
            return Task.CompletedTask;
        }

        return WriteAsync(context, StatusCodes.Status200OK, AdminPages.Login(Csrf(context), null));
    }

    private async Task LoginAsync(HttpContext context)
    {
        if (await ReadFormAsync(context).ConfigureAwait(false) is not { } form)
        {
            return;
        }

        var remote = context.Connection.RemoteIpAddress;
        var key = FailureThrottle.AddressKey(remote) ?? "unknown";
        if (loginFailures.IsThrottled(key, out var retryAfter))
        {
            AdminLog.SignInRefused(logger, remote, "throttled");
            var seconds = (int)Math.Ceiling(retryAfter.TotalSeconds);
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await WriteAsync(context, StatusCodes.Status429TooManyRequests, AdminPages.Login(Csrf(context), $"Too many failed sign-ins from your address; try again in {seconds} s.")).ConfigureAwait(false);
            return;
        }

        if (!token.Matches(form["token"].ToString()))
        {
            loginFailures.RecordFailure(key);
            AdminLog.SignInRefused(logger, remote, "wrong token");
            await WriteAsync(context, StatusCodes.Status401Unauthorized, AdminPages.Login(Csrf(context), "That is not the admin token.")).ConfigureAwait(false);
            return;
        }

        loginFailures.Clear(key);
        context.Response.Cookies.Append(SessionCookie, sessions.Start(), new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Secure = https,
            Path = "/",
            IsEssential = true,
        });
        AdminLog.SignedIn(logger, remote);
        Redirect(context, "/");
    }

    private async Task LogoutAsync(HttpContext context)
    {
        if (await ReadFormAsync(context).ConfigureAwait(false) is null)
        {
            return;
        }

        sessions.End(context.Request.Cookies[SessionCookie]);
        context.Response.Cookies.Delete(SessionCookie, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = https, Path = "/" });
        AdminLog.SignedOut(logger, context.Connection.RemoteIpAddress);
        Redirect(context, "/login");
    }

    private async Task ListAsync(HttpContext context)
    {
        IReadOnlyList<RegistrationEntry>? entries = store is null ? null : await store.ListAsync(context.RequestAborted).ConfigureAwait(false);
        var notice = UuidText.TryNormalize(context.Request.Query["deleted"].ToString(), out var deleted) ? $"Deleted {deleted}." : null;
        await WriteAsync(context, StatusCodes.Status200OK, AdminPages.List(entries, broker.Activity.Snapshot(), Csrf(context), notice)).ConfigureAwait(false);
    }

    /// <summary>Marks the endpoints of <see cref="IAdminEndpoints"/>: the gate lets them through without a session.</summary>
    internal sealed class OpenEndpoint
    {
        public static readonly OpenEndpoint Instance = new();

        private OpenEndpoint()
        {
        }
    }

    private bool IsSignedIn(HttpContext context) => sessions.IsValid(context.Request.Cookies[SessionCookie]);

    /// <summary>
    /// Reads the form of a POST and checks its anti-forgery token; on failure answers 400 (413 when too large, 415 when not
    /// a form) with what is accepted, and returns null. The form is read first, so a form over the limits is reported as
    /// such, not as a missing token.
    /// </summary>
    private static async Task<IFormCollection?> ReadFormAsync(HttpContext context)
    {
        if (!context.Request.HasFormContentType)
        {
            await WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, AdminPages.Error(
                "Not a form",
                $"The request's content type '{context.Request.ContentType}' is not accepted; the pages post forms (application/x-www-form-urlencoded or multipart/form-data).")).ConfigureAwait(false);
            return null;
        }

        IFormCollection form;
        try
        {
            form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException)
        {
            var status = ex is BadHttpRequestException { StatusCode: var code } ? code : StatusCodes.Status400BadRequest;
            await WriteAsync(context, status, AdminPages.Error(
                "Bad request",
                $"The form could not be read: {ex.Message} A form here has at most {MaxFormFields} fields of at most {MaxFieldLength} characters, {MaxFormBytes / 1024} KiB in all.")).ConfigureAwait(false);
            return null;
        }

        try
        {
            await context.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(context).ConfigureAwait(false);
            return form;
        }
        catch (AntiforgeryValidationException)
        {
            await WriteAsync(context, StatusCodes.Status400BadRequest, AdminPages.Error(
                "Bad request",
                "The form was refused: its anti-forgery token is missing or not valid (tokens end when the service restarts, and forms posted from other sites never have one). Go back, reload the page and submit it again.")).ConfigureAwait(false);
            return null;
        }
    }

    private static string Csrf(HttpContext context) =>
        context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context).RequestToken!;

    private static void Redirect(HttpContext context, string path)
    {
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = path;
    }

    private static Task WriteAsync(HttpContext context, int status, AdminPages.Page page)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = HtmlContentType;
        return context.Response.WriteAsync(AdminPages.Render(page), context.RequestAborted);
    }
}
