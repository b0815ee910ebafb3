using System.Net;
using System.Text.RegularExpressions;
using Rendezvous.Client.Agent;
using Rendezvous.Security;
using Rendezvous.Tests.Common;

namespace Rendezvous.Host.Tests.Admin;

/// <summary>The pages that list, create, show, rotate and delete entries, checked against the real SQLite store and broker.</summary>
public sealed partial class AdminEntriesTests
{
    private AdminServer _server = null!;
    private AdminClient _client = null!;

    [GeneratedRegex("<pre id=\"config\">(?<json>[^<]*)</pre>")]
    private static partial Regex ConfigBlock();

    [SetUp]
    public async Task StartAndSignInAsync()
    {
        _server = await AdminServer.StartAsync();
        _client = _server.CreateClient();
        Assert.That((await _client.SignInAsync(_server.Token)).Status, Is.EqualTo(HttpStatusCode.SeeOther));
    }

    [TearDown]
    public async Task StopAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    [Test]
    public async Task Creating_an_entry_with_a_given_uuid_stores_it_with_its_step_and_digits()
    {
        const string Uuid = "123E4567-E89B-12D3-A456-426614174000";

        var reply = await _client.SubmitAsync("/entries/new", "/entries", ("uuid", Uuid), ("step", "60"), ("digits", "8"));

        var stored = await _server.Store.TryGetAsync(Uuid).WaitAsync(TestTimeouts.Short);
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(reply.Header("Location"), Is.EqualTo("/entries/123e4567-e89b-12d3-a456-426614174000?done=created"));
            Assert.That(stored, Is.Not.Null);
            Assert.That(stored!.Step, Is.EqualTo(60));
            Assert.That(stored.Digits, Is.EqualTo(8));
            Assert.That(stored.Secret, Has.Length.EqualTo(SecretFormat.GeneratedSecretBytes));
        });
    }

    [Test]
    public async Task Creating_an_entry_without_a_uuid_makes_a_random_one()
    {
        var reply = await _client.SubmitAsync("/entries/new", "/entries", ("uuid", string.Empty), ("step", "30"), ("digits", "6"));

        var entries = await _server.Store.ListAsync().WaitAsync(TestTimeouts.Short);
        Assert.That(entries, Has.Count.EqualTo(1));
        Assert.That(reply.Header("Location"), Is.EqualTo($"/entries/{entries[0].Uuid}?done=created"));
    }

    [Test]
    public async Task Creating_without_an_antiforgery_token_gets_400_and_stores_nothing()
    {
        var reply = await _client.PostRawAsync("/entries", [KeyValuePair.Create("uuid", string.Empty), KeyValuePair.Create("step", "30"), KeyValuePair.Create("digits", "6")]);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await _server.Store.ListAsync(), Is.Empty);
        });
    }

    [Test]
    public async Task Bad_input_shows_the_form_again_naming_each_bad_value_and_what_is_accepted()
    {
        var reply = await _client.SubmitAsync("/entries/new", "/entries", ("uuid", "not-a-uuid"), ("step", "0"), ("digits", "five"));

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(reply.Body, Does.Contain("The UUID &#x27;not-a-uuid&#x27; is not a UUID").And.Contain("123e4567-e89b-12d3-a456-426614174000"));
            Assert.That(reply.Body, Does.Contain("The time step &#x27;0&#x27; is not accepted").And.Contain("from 1 to 300"));
            Assert.That(reply.Body, Does.Contain("The digits &#x27;five&#x27; are not accepted").And.Contain("from 6 to 8"));
            Assert.That(reply.Body, Does.Contain("id=\"uuid\" name=\"uuid\" value=\"not-a-uuid\""), "the form keeps what was typed");
            Assert.That(await _server.Store.ListAsync(), Is.Empty);
        });
    }

    [Test]
    public async Task A_uuid_that_already_has_an_entry_gets_409_and_the_form_again()
    {
        var existing = await _server.AddEntryAsync();

        var reply = await _client.SubmitAsync("/entries/new", "/entries", ("uuid", existing.Uuid), ("step", "30"), ("digits", "6"));

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(reply.Body, Does.Contain($"The UUID {existing.Uuid} already has an entry"));
        });
    }

    [Test]
    public async Task Hostile_input_is_html_encoded_wherever_it_is_shown()
    {
        const string Hostile = "\"><script>alert('x')</script><img src=x onerror=alert(1)>";

        var reply = await _client.SubmitAsync("/entries/new", "/entries", ("uuid", Hostile), ("step", Hostile), ("digits", "6"));
        var unknown = await _client.GetAsync("/entries/" + Uri.EscapeDataString(Hostile));

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(reply.Body, Does.Not.Contain("<script>").And.Not.Contain("<img"));
            Assert.That(reply.Body, Does.Contain("&lt;script&gt;"));
            Assert.That(unknown.Status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(unknown.Body, Does.Not.Contain("<script>").And.Not.Contain("<img"));
        });
    }

    [Test]
    public async Task The_list_shows_every_entry_and_what_the_relay_knows_of_it()
    {
        var idle = await _server.AddEntryAsync();
        var active = await _server.AddEntryAsync();
        await _server.RegisterAsync(active);

        var list = await _client.GetAsync("/");

        Assert.Multiple(() =>
        {
            Assert.That(Row(list.Body, idle.Uuid), Does.Contain("<td>stored</td>").And.Contain("<td>no</td>"));
            Assert.That(Row(list.Body, active.Uuid), Does.Contain("<td>stored</td>").And.Contain("<td>yes</td>"));
        });
    }

    [Test]
    public async Task The_list_shows_uuids_the_relay_refused_that_have_no_entry()
    {
        var stranger = new SecretEntry(Guid.NewGuid().ToString("D"), SecretFormat.CreateRandomSecret(), 30, 6, DateTimeOffset.UtcNow);
        using (var registrar = RegistrarClient.CreatePinned(_server.RegistrarUrl, _server.Fingerprint))
        {
            await registrar.RegisterAsync(stranger.Uuid, "123456");
        }

        var list = await _client.GetAsync("/");

        Assert.That(Row(list.Body, stranger.Uuid), Does.Contain("<td>none</td>").And.Contain("<td>1 ("));
    }

    [Test]
    public async Task The_entry_page_shows_the_config_file_expose_reads_without_caching()
    {
        var entry = await _server.AddEntryAsync();

        var page = await _client.GetAsync("/entries/" + entry.Uuid);

        var json = WebUtility.HtmlDecode(ConfigBlock().Match(page.Body).Groups["json"].Value);
        var config = ReadAsExposeDoes(json);
        Assert.Multiple(() =>
        {
            Assert.That(page.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(page.Header("Cache-Control"), Does.Contain("no-store"));
            Assert.That(config.Uuid, Is.EqualTo(entry.Uuid));
            Assert.That(config.Secret, Is.EqualTo(SecretFormat.ToBase32(entry.Secret)));
            Assert.That(config.RegistrarFingerprint, Is.EqualTo(_server.Fingerprint));
            Assert.That(config.RegistrarUrl, Is.EqualTo(new Uri($"https://127.0.0.1:{_server.RegistrarUrl.Port}/")));
        });
    }

    [Test]
    public async Task The_config_file_names_the_public_host_when_one_is_set()
    {
        var (server, client, entry) = await StartWithPublicHostAsync();
        await using (server)
        using (client)
        {
            var download = await client.GetAsync($"/entries/{entry.Uuid}/config");

            Assert.That(ReadAsExposeDoes(download.Body).RegistrarUrl, Is.EqualTo(new Uri($"https://rendezvous.example.com:{server.RegistrarUrl.Port}/")));
        }
    }

    [Test]
    public async Task The_entry_page_warns_when_the_config_file_names_a_loopback_registrar()
    {
        var entry = await _server.AddEntryAsync();

        var page = await _client.GetAsync("/entries/" + entry.Uuid);

        Assert.That(page.Body, Does.Contain("id=\"config-warning\"").And.Contain("Rendezvous:Registrar:PublicHost is not set"));
    }

    [Test]
    public async Task The_entry_page_has_no_such_warning_when_a_public_host_is_set()
    {
        var (server, client, entry) = await StartWithPublicHostAsync();
        await using (server)
        using (client)
        {
            var page = await client.GetAsync("/entries/" + entry.Uuid);

            Assert.That(page.Body, Does.Contain("id=\"config\"").And.Not.Contain("config-warning"));
        }
    }

    /// <summary>A server with Rendezvous:Registrar:PublicHost set, a signed-in client and an entry.</summary>
    private static async Task<(AdminServer Server, AdminClient Client, SecretEntry Entry)> StartWithPublicHostAsync()
    {
        var server = await AdminServer.StartAsync(new Dictionary<string, string?> { ["Rendezvous:Registrar:PublicHost"] = "rendezvous.example.com" });
        var client = server.CreateClient();
        await client.SignInAsync(server.Token);
        return (server, client, await server.AddEntryAsync());
    }

    [Test]
    public async Task The_config_file_downloads_as_an_attachment_named_after_the_uuid()
    {
        var entry = await _server.AddEntryAsync();

        var download = await _client.GetAsync($"/entries/{entry.Uuid}/config");

        Assert.Multiple(() =>
        {
            Assert.That(download.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(download.Header("Content-Disposition"), Is.EqualTo($"attachment; filename=\"{entry.Uuid}.json\""));
            Assert.That(download.Header("Content-Type"), Does.StartWith("application/json"));
            Assert.That(download.Header("Cache-Control"), Does.Contain("no-store"));
            Assert.That(ReadAsExposeDoes(download.Body).Secret, Is.EqualTo(SecretFormat.ToBase32(entry.Secret)));
        });
    }

    [Test]
    public async Task Rotating_replaces_the_secret_in_the_store_and_shows_the_new_config()
    {
        var entry = await _server.AddEntryAsync();

        var reply = await _client.SubmitAsync($"/entries/{entry.Uuid}/rotate", $"/entries/{entry.Uuid}/rotate");
        var page = await _client.GetAsync(reply.Header("Location")!);

        var stored = await _server.Store.TryGetAsync(entry.Uuid).WaitAsync(TestTimeouts.Short);
        var shown = ReadAsExposeDoes(WebUtility.HtmlDecode(ConfigBlock().Match(page.Body).Groups["json"].Value));
        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(stored!.Secret, Is.Not.EqualTo(entry.Secret));
            Assert.That(stored.Step, Is.EqualTo(entry.Step));
            Assert.That(shown.Secret, Is.EqualTo(SecretFormat.ToBase32(stored.Secret)));
            Assert.That(page.Body, Does.Contain("Rotated the secret of " + entry.Uuid));
        });
    }

    [Test]
    public async Task Rotate_asks_for_confirmation_before_the_secret_changes()
    {
        var entry = await _server.AddEntryAsync();

        var page = await _client.GetAsync("/entries/" + entry.Uuid);
        var confirm = await _client.GetAsync($"/entries/{entry.Uuid}/rotate");

        Assert.Multiple(async () =>
        {
            Assert.That(page.Body, Does.Contain($"id=\"rotate\" class=\"button\" href=\"/entries/{entry.Uuid}/rotate\""));
            Assert.That(page.Body, Does.Not.Contain($"action=\"/entries/{entry.Uuid}/rotate\""), "the entry page itself must not rotate");
            Assert.That(confirm.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(confirm.Body, Does.Contain($"Rotate the secret of {entry.Uuid}?"));
            Assert.That(confirm.Body, Does.Contain("id=\"confirm-rotate\"").And.Contain($"<form method=\"post\" action=\"/entries/{entry.Uuid}/rotate\">"));
            Assert.That(confirm.Body, Does.Contain($"name=\"{AdminClient.CsrfField}\""));
            Assert.That(confirm.Body, Does.Contain($"id=\"cancel\" href=\"/entries/{entry.Uuid}\""));
            Assert.That((await _server.Store.TryGetAsync(entry.Uuid))!.Secret, Is.EqualTo(entry.Secret));
        });
    }

    [Test]
    public async Task Rotating_without_the_anti_forgery_token_is_refused_and_changes_nothing()
    {
        var entry = await _server.AddEntryAsync();

        var reply = await _client.PostRawAsync($"/entries/{entry.Uuid}/rotate", []);

        Assert.Multiple(async () =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That((await _server.Store.TryGetAsync(entry.Uuid))!.Secret, Is.EqualTo(entry.Secret));
        });
    }

    [Test]
    public async Task Uuids_in_the_list_do_not_wrap()
    {
        var entry = await _server.AddEntryAsync();

        var list = await _client.GetAsync("/");
        var css = await _client.GetAsync("/admin.css");

        Assert.Multiple(() =>
        {
            Assert.That(Row(list.Body, entry.Uuid), Does.Contain($"<td class=\"uuid\"><a href=\"/entries/{entry.Uuid}\"><code>{entry.Uuid}</code></a></td>"));
            Assert.That(css.Body, Does.Match(@"td\.uuid[^{]*\{[^}]*white-space: nowrap;"));
        });
    }

    [Test]
    public async Task Delete_asks_for_confirmation_before_anything_is_removed()
    {
        var entry = await _server.AddEntryAsync();

        var confirm = await _client.GetAsync($"/entries/{entry.Uuid}/delete");

        Assert.Multiple(async () =>
        {
            Assert.That(confirm.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(confirm.Body, Does.Contain("id=\"confirm-delete\"").And.Contain($"action=\"/entries/{entry.Uuid}/delete\""));
            Assert.That(await _server.Store.TryGetAsync(entry.Uuid), Is.Not.Null);
        });
    }

    [Test]
    public async Task Deleting_removes_the_secret_drops_the_registration_and_forgets_the_counters()
    {
        var entry = await _server.AddEntryAsync();
        await _server.RegisterAsync(entry);
        Assert.That(_server.Broker.Activity.Get(entry.Uuid).Registered, Is.True);

        var reply = await _client.SubmitAsync($"/entries/{entry.Uuid}/delete", $"/entries/{entry.Uuid}/delete");
        var list = await _client.GetAsync(reply.Header("Location")!);

        using var registrar = RegistrarClient.CreatePinned(_server.RegistrarUrl, _server.Fingerprint);
        var lookup = await registrar.LookUpAsync(entry.Uuid);
        Assert.Multiple(async () =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.SeeOther));
            Assert.That(await _server.Store.TryGetAsync(entry.Uuid), Is.Null);
            Assert.That(lookup.Body, Does.Contain("not registered"));
            Assert.That(_server.Broker.Activity.Snapshot().Select(a => a.Uuid), Does.Not.Contain(entry.Uuid));
            Assert.That(list.Body, Does.Contain($"Deleted {entry.Uuid}.").And.Not.Contain($"data-uuid=\"{entry.Uuid}\""));
        });
    }

    [TestCase("/entries/00000000-0000-0000-0000-000000000000")]
    [TestCase("/entries/00000000-0000-0000-0000-000000000000/config")]
    [TestCase("/entries/00000000-0000-0000-0000-000000000000/delete")]
    [TestCase("/entries/00000000-0000-0000-0000-000000000000/rotate")]
    [TestCase("/entries/not-a-uuid")]
    public async Task An_unknown_uuid_gets_a_404_page(string path)
    {
        var reply = await _client.GetAsync(path);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(reply.Body, Does.Contain("it is not in the secret store and the relay has not seen it"));
        });
    }

    [Test]
    public async Task Rotating_an_unknown_uuid_gets_a_404_page()
    {
        var reply = await _client.SubmitAsync("/", "/entries/00000000-0000-0000-0000-000000000000/rotate");

        Assert.That(reply.Status, Is.EqualTo(HttpStatusCode.NotFound));
    }

    private static string Row(string body, string uuid)
    {
        var start = body.IndexOf($"<tr data-uuid=\"{uuid}\">", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), $"no row for {uuid} in:\n{body}");
        return body[start..body.IndexOf("</tr>", start, StringComparison.Ordinal)];
    }

    /// <summary>Parses a config file with the same code <c>rendezvous expose --config</c> uses.</summary>
    private static HiddenServerConfigFile ReadAsExposeDoes(string json)
    {
        using var directory = new TemporaryDirectory();
        var path = directory.Combine("hidden.json");
        File.WriteAllText(path, json);
        Assert.That(HiddenServerConfigFile.TryLoad(path, out var config, out var error), Is.True, error);
        return config!;
    }
}
