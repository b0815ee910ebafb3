using System.Globalization;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Server.Admin;

/// <summary>The admin page's HTML, rendered on the server: no script, no external resource, every value encoded.</summary>
internal static partial class AdminPages
{
    /// <summary>The stylesheet served at <c>/admin.css</c>.</summary>
    public const string Stylesheet = """
        body { font-family: system-ui, sans-serif; margin: 0; color: #1d2329; background: #f6f7f9; }
        header { display: flex; justify-content: space-between; align-items: center; padding: .6rem 1.2rem; background: #1d2329; }
        header a.brand { color: #fff; font-weight: 600; text-decoration: none; }
        header form { margin: 0; }
        main { padding: 1rem 1.2rem; max-width: 80rem; }
        table { border-collapse: collapse; background: #fff; width: 100%; }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #dde1e6; font-size: .9rem; }
        td.number { text-align: right; font-variant-numeric: tabular-nums; }
        code, pre { font-family: ui-monospace, monospace; }
        td.uuid, .uuid { font-family: ui-monospace, monospace; white-space: nowrap; }
        pre { background: #fff; border: 1px solid #dde1e6; padding: .8rem; overflow-x: auto; }
        .notice { padding: .6rem .8rem; border-radius: .3rem; background: #e7f1ff; }
        .notice.error { background: #fde8e8; }
        form.stacked label { display: block; margin: .6rem 0 .2rem; }
        form.stacked input { width: 22rem; max-width: 100%; padding: .3rem; }
        button, .button { padding: .35rem .9rem; margin-top: .6rem; cursor: pointer; }
        button.danger { background: #b42318; color: #fff; border: 1px solid #b42318; }
        .actions { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
        .muted { color: #667085; }
        """;

    /// <summary>A page of the admin site.</summary>
    /// <param name="Title">The heading and title.</param>
    /// <param name="Body">The content.</param>
    /// <param name="SignOutCsrf">The anti-forgery token for the sign-out button; <see langword="null"/> when not signed in.</param>
    /// <param name="Notice">A message shown above the content.</param>
    /// <param name="NoticeIsError">Whether the message reports a problem.</param>
    public sealed record Page(string Title, Html Body, string? SignOutCsrf = null, string? Notice = null, bool NoticeIsError = false);

    /// <summary>Renders a whole document.</summary>
    public static string Render(Page page)
    {
        var signOut = page.SignOutCsrf is { } csrf
            ? Html.Of($"""<form method="post" action="/logout">{Csrf(csrf)}<button id="sign-out" type="submit">Sign out</button></form>""")
            : Html.Empty;
        var notice = page.Notice is { } text
            ? Html.Of($"""<p class="notice{(page.NoticeIsError ? " error" : string.Empty)}" id="notice" role="{(page.NoticeIsError ? "alert" : "status")}">{text}</p>""")
            : Html.Empty;
        return Html.Of($"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{page.Title} · Rendezvous admin</title>
            <link rel="stylesheet" href="/admin.css">
            </head>
            <body>
            <header><a class="brand" href="/">Rendezvous admin</a>{signOut}</header>
            <main>
            <h1>{page.Title}</h1>
            {notice}
            {page.Body}
            </main>
            </body>
            </html>

            """).ToString();
    }

    /// <summary>The sign-in form.</summary>
    public static Page Login(string csrf, string? problem) => new(
        "Sign in",
        Html.Of($"""
            <form class="stacked" method="post" action="/login">
            {Csrf(csrf)}
            <label for="token">Admin token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
            <p class="muted">The token is in the file <code>admin-token</code> in the data directory, unless <code>Rendezvous:Admin:Token</code> is set.</p>
            <button id="sign-in" type="submit">Sign in</button>
            </form>
            """),
        Notice: problem,
        NoticeIsError: problem is not null);

    /// <summary>An error page (not found, bad request, ...).</summary>
    public static Page Error(string title, string message, string? signOutCsrf = null) => new(
        title,
        Html.Of($"""<p><a href="/">Back to the list</a></p>"""),
        signOutCsrf,
        message,
        NoticeIsError: true);

    /// <summary>What the pages say where they would show or change entries when the server's policy provides no entries store.</summary>
    public const string NoStoreMessage =
        "This server's registration policy provides no entries store (no IRegistrationEntryStore is registered), so this page cannot list, create, rotate or remove its entries, nor write config files; it shows what the relay has seen, and /healthz and /metrics work as usual.";

    /// <summary>
    /// The list of every UUID: the entries store's entries and those the relay has seen; <paramref name="entries"/> is
    /// <see langword="null"/> when the policy provides no entries store.
    /// </summary>
    public static Page List(IReadOnlyList<RegistrationEntry>? entries, IReadOnlyList<UuidActivity> activity, string csrf, string? notice)
    {
        var byUuid = activity.ToDictionary(a => a.Uuid, StringComparer.OrdinalIgnoreCase);
        var rows = new List<Html>();
        foreach (var entry in entries ?? [])
        {
            byUuid.Remove(entry.Uuid, out var seen);
            rows.Add(Row(entry.Uuid, entry, seen));
        }

        foreach (var seen in byUuid.Values.OrderBy(a => a.Uuid, StringComparer.Ordinal))
        {
            rows.Add(Row(seen.Uuid, null, seen));
        }

        var table = rows.Count == 0
            ? Html.Of($"""<p id="empty">No entries yet.</p>""")
            : Html.Of($"""
                <table id="entries">
                <thead><tr><th>UUID</th><th>Secret</th><th>Registered</th><th>Parked</th><th>Live sessions</th><th>Sessions</th><th>Bytes relayed</th><th>Last registration</th><th>Failures (last)</th><th>Created</th></tr></thead>
                <tbody>
                {Html.Join(rows)}
                </tbody>
                </table>
                """);
        var actions = entries is null
            ? Html.Of($"""
                <p id="no-store" class="notice error">{NoStoreMessage}</p>
                <p class="muted">Counters since the service started.</p>
                """)
            : Html.Of($"""
                <p class="actions"><a id="new-entry" class="button" href="/entries/new">New entry</a>
                <span class="muted">{entries.Count} in the secret store; counters since the service started.</span></p>
                """);
        return new Page(
            "Hidden servers",
            Html.Of($"""
                {actions}
                {table}
                """),
            csrf,
            notice);
    }

    private static Html Row(string uuid, RegistrationEntry? entry, UuidActivity a)
    {
        return Html.Of($"""
            <tr data-uuid="{uuid}">
            <td class="uuid"><a href="{EntryPath(uuid)}"><code>{uuid}</code></a></td>
            <td>{(entry is null ? "none" : "stored")}</td>
            <td>{(a.Registered ? "yes" : "no")}</td>
            <td class="number">{a.Parked}</td>
            <td class="number">{a.LiveSessions}</td>
            <td class="number">{a.Sessions}</td>
            <td class="number">{a.BytesRelayed:N0}</td>
            <td>{When(a.LastRegistered)}</td>
            <td>{a.Failures}{(a.LastFailure is { } last ? $" ({When(last)})" : string.Empty)}</td>
            <td>{(entry is null ? "-" : When(entry.CreatedAt))}</td>
            </tr>
            """);
    }

    /// <summary>The path of an entry's page.</summary>
    public static string EntryPath(string uuid) => "/entries/" + Uri.EscapeDataString(uuid);

    /// <summary>A time as UTC text, or "never".</summary>
    public static string When(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "never";

    private static Html Csrf(string token) => Html.Of($"""<input type="hidden" name="{AdminEndpoints.CsrfField}" value="{token}">""");
}
