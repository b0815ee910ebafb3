using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Server.Admin;

internal static partial class AdminPages
{
    /// <summary>The values of the new-entry form, as typed.</summary>
    /// <param name="Uuid">The UUID, or empty for a random one.</param>
    /// <param name="Values">The values of the store's <see cref="IRegistrationEntryStore.CreationFields"/>, by name.</param>
    public sealed record NewEntryForm(string Uuid, IReadOnlyDictionary<string, string> Values)
    {
        /// <summary>The form as first shown: a random UUID, the store's defaults.</summary>
        public static NewEntryForm Defaults(IRegistrationEntryStore store) =>
            new(string.Empty, store.CreationFields.ToDictionary(f => f.Name, f => f.DefaultValue, StringComparer.Ordinal));
    }

    /// <summary>An entry's config file as its page shows it.</summary>
    /// <param name="Json">The hidden server's config file, when one can be made.</param>
    /// <param name="NoConfigReason">Why there is no config file, when there is none.</param>
    /// <param name="Warning">What is wrong with the file as made here (a registrar name other machines cannot reach), if anything.</param>
    public sealed record ConfigFile(string? Json, string? NoConfigReason, string? Warning);

    /// <summary>The form that creates an entry (the UUID and the store's fields), with a message when the last try was refused.</summary>
    public static Page NewEntry(IRegistrationEntryStore store, NewEntryForm form, string csrf, string? problem) => new(
        "New entry",
        Html.Of($"""
            <form class="stacked" method="post" action="/entries">
            {Csrf(csrf)}
            <label for="uuid">UUID</label>
            <input id="uuid" name="uuid" value="{form.Uuid}" placeholder="empty for a random one" maxlength="100">
            {Html.Join(store.CreationFields.Select(f => Field(f, form.Values.GetValueOrDefault(f.Name, f.DefaultValue))))}
            <p class="muted">{store.CreationNote}; the next page shows the hidden server's config file.</p>
            <button id="create" type="submit">Create</button>
            </form>
            """),
        csrf,
        problem,
        NoticeIsError: problem is not null);

    private static Html Field(RegistrationEntryField field, string value) => field.Numeric
        ? Html.Of($"""
            <label for="{field.Name}">{field.Label}</label>
            <input id="{field.Name}" name="{field.Name}" value="{value}" inputmode="numeric" maxlength="10">

            """)
        : Html.Of($"""
            <label for="{field.Name}">{field.Label}</label>
            <input id="{field.Name}" name="{field.Name}" value="{value}" maxlength="100">

            """);

    /// <summary>One UUID: what the relay knows of it, and its config file when it has a secret.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="entry">Its entries-store entry, when it has one.</param>
    /// <param name="activity">What the relay knows of it.</param>
    /// <param name="config">The hidden server's config file, or why there is none.</param>
    /// <param name="poolAdvice">The pool its registration answers advise now, or <see langword="null"/> when advice is off.</param>
    /// <param name="csrf">The anti-forgery token for the forms.</param>
    /// <param name="notice">A message to show.</param>
    public static Page Entry(string uuid, RegistrationEntry? entry, UuidActivity activity, ConfigFile config, int? poolAdvice, string csrf, string? notice)
    {
        var path = EntryPath(uuid);
        var warning = config.Warning is { } text ? Html.Of($"""<p id="config-warning" class="notice error">{text}</p>""") : Html.Empty;
        var configSection = config.Json is { } configJson
            ? Html.Of($"""
                <h2>Hidden server config file</h2>
                <p class="muted">What <code>rendezvous users add --config-out</code> writes; give it to <code>rendezvous expose --config</code>. It holds the secret.</p>
                {warning}
                <pre id="config">{configJson}</pre>
                <p><a id="download" class="button" href="{path}/config" download>Download {uuid}.json</a></p>
                """)
            : Html.Of($"""<h2>Hidden server config file</h2><p id="no-config" class="muted">{config.NoConfigReason}</p>""");
        var rotate = entry is null
            ? Html.Empty
            : Html.Of($"""
                <h2>Rotate the secret</h2>
                <p class="muted">A new random secret replaces the old one: codes from the old secret stop working, so the hidden server needs the new config file before it registers again.</p>
                <p><a id="rotate" class="button" href="{path}/rotate">Rotate the secret…</a></p>
                """);
        return new Page(
            uuid,
            Html.Of($"""
                <table id="entry">
                <tr><th>Secret</th><td>{(entry is null ? "none in the secret store" : $"stored, {entry.Summary}")}</td></tr>
                <tr><th>Created</th><td>{(entry is null ? "-" : When(entry.CreatedAt))}</td></tr>
                <tr><th>Registered</th><td id="registered">{(activity.Registered ? "yes" : "no")}</td></tr>
                <tr><th>Parked connections</th><td>{activity.Parked}</td></tr>
                <tr><th>Pool advice</th><td id="pool-advice">{(poolAdvice is { } advice ? $"{advice} (from recent demand and this node's load)" : "off")}</td></tr>
                <tr><th>Live sessions</th><td>{activity.LiveSessions}</td></tr>
                <tr><th>Sessions</th><td>{activity.Sessions}</td></tr>
                <tr><th>Bytes relayed</th><td>{activity.BytesRelayed:N0}</td></tr>
                <tr><th>Registrations</th><td>{activity.Registrations}</td></tr>
                <tr><th>Last registration</th><td>{When(activity.LastRegistered)}</td></tr>
                <tr><th>Refused registrations</th><td>{activity.Failures}</td></tr>
                <tr><th>Last refusal</th><td>{When(activity.LastFailure)}</td></tr>
                </table>
                {configSection}
                {rotate}
                <h2>Delete</h2>
                <p><a id="delete" class="button" href="{path}/delete">Delete {uuid}…</a></p>
                """),
            csrf,
            notice);
    }

    /// <summary>Asks to confirm a rotation of the secret.</summary>
    public static Page ConfirmRotate(string uuid, string csrf) => new(
        $"Rotate the secret of {uuid}?",
        Html.Of($"""
            <form method="post" action="{EntryPath(uuid)}/rotate">
            {Csrf(csrf)}
            <p>A new random secret replaces the old one at once. Codes from the old secret stop working, so the hidden server cannot register again until it has the new config file, which the next page shows. Its current registration and parked connections stay until then.</p>
            <p class="actions"><button id="confirm-rotate" class="danger" type="submit">Rotate the secret</button> <a id="cancel" href="{EntryPath(uuid)}">Cancel</a></p>
            </form>
            """),
        csrf);

    /// <summary>Asks to confirm a deletion.</summary>
    public static Page ConfirmDelete(string uuid, bool hasSecret, string csrf) => new(
        $"Delete {uuid}?",
        Html.Of($"""
            <form method="post" action="{EntryPath(uuid)}/delete">
            {Csrf(csrf)}
            <p>{(hasSecret ? "Its secret is removed from the store, so it can no longer register; " : string.Empty)}its current registration and parked connections are dropped at once, and its counters are forgotten. Live sessions go on until they end.</p>
            <p class="actions"><button id="confirm-delete" class="danger" type="submit">Delete</button> <a id="cancel" href="{EntryPath(uuid)}">Cancel</a></p>
            </form>
            """),
        csrf);
}
