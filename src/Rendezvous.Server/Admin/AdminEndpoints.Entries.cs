using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Policy;

namespace Rendezvous.Server.Admin;

internal sealed partial class AdminEndpoints
{
    /// <summary>The config file's JSON as <c>rendezvous users add --config-out</c> writes it: indented, with a final newline.</summary>
    private static readonly JsonSerializerOptions ConfigFileJson = new() { WriteIndented = true };

    private Task NewEntryFormAsync(HttpContext context) => store is null
        ? WriteNoStoreAsync(context)
        : WriteAsync(context, StatusCodes.Status200OK, AdminPages.NewEntry(store, AdminPages.NewEntryForm.Defaults(store), Csrf(context), null));

    private async Task CreateAsync(HttpContext context)
    {
        if (await ReadFormAsync(context).ConfigureAwait(false) is not { } form)
        {
            return;
        }

        if (store is null)
        {
            await WriteNoStoreAsync(context).ConfigureAwait(false);
            return;
        }

        var typed = new AdminPages.NewEntryForm(
            form["uuid"].ToString().Trim(),
            store.CreationFields.ToDictionary(f => f.Name, f => form[f.Name].ToString().Trim(), StringComparer.Ordinal));
        var problems = new List<string>();
        string? uuid;
        if (typed.Uuid.Length == 0)
        {
            uuid = Guid.NewGuid().ToString("D");
        }
        else if (!UuidText.TryNormalize(typed.Uuid, out uuid))
        {
            problems.Add($"The UUID '{typed.Uuid}' is not a UUID; enter one in the form 123e4567-e89b-12d3-a456-426614174000, or leave it empty for a random one.");
        }

        problems.AddRange(store.Validate(typed.Values));
        if (problems.Count > 0)
        {
            await WriteAsync(context, StatusCodes.Status400BadRequest, AdminPages.NewEntry(store, typed, Csrf(context), string.Join(" ", problems))).ConfigureAwait(false);
            return;
        }

        if (await store.TryCreateAsync(uuid!, typed.Values, context.RequestAborted).ConfigureAwait(false) is not { } created)
        {
            await WriteAsync(context, StatusCodes.Status409Conflict, AdminPages.NewEntry(store, typed, Csrf(context), $"The UUID {uuid} already has an entry; open it from the list to rotate its secret or delete it.")).ConfigureAwait(false);
            return;
        }

        AdminLog.EntryCreated(logger, uuid!, created.Summary);
        Redirect(context, AdminPages.EntryPath(uuid!) + "?done=created");
    }

    private async Task ShowAsync(HttpContext context)
    {
        if (await FindAsync(context).ConfigureAwait(false) is not var (uuid, entry, activity))
        {
            return;
        }

        var (json, reason) = await ConfigAsync(context, uuid, entry).ConfigureAwait(false);
        var warning = json is not null && string.IsNullOrEmpty(registrarOptions.Value.PublicHost) && IsLoopbackName(RequestHostName(context))
            ? $"This file names the registrar as {RequestHostName(context)}, the name this page was opened by, because Rendezvous:Registrar:PublicHost is not set: a hidden server on another machine cannot reach it there. Set PublicHost (--public-host) to the server's public name and restart, or edit registrarUrl in the file."
            : null;
        var notice = context.Request.Query["done"].ToString() switch
        {
            "created" => $"Created {uuid}. Give the hidden server the config file below.",
            "rotated" => $"Rotated the secret of {uuid}. Codes from the old secret no longer work: give the hidden server the new config file below.",
            _ => null,
        };
        await WriteAsync(context, StatusCodes.Status200OK, AdminPages.Entry(uuid, entry, activity, new AdminPages.ConfigFile(json, reason, warning), advisor?.Peek(uuid), Csrf(context), notice)).ConfigureAwait(false);
    }

    private async Task DownloadAsync(HttpContext context)
    {
        if (await FindAsync(context).ConfigureAwait(false) is not var (uuid, entry, _))
        {
            return;
        }

        var (json, reason) = await ConfigAsync(context, uuid, entry).ConfigureAwait(false);
        if (json is null)
        {
            await WriteAsync(context, StatusCodes.Status409Conflict, AdminPages.Error("No config file", reason!)).ConfigureAwait(false);
            return;
        }

        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{uuid}.json\"";
        await context.Response.WriteAsync(json, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task ConfirmRotateAsync(HttpContext context)
    {
        if (await FindAsync(context).ConfigureAwait(false) is not var (uuid, entry, _))
        {
            return;
        }

        if (store is null)
        {
            await WriteNoStoreAsync(context).ConfigureAwait(false);
            return;
        }

        if (entry is null)
        {
            await WriteAsync(context, StatusCodes.Status409Conflict, AdminPages.Error("No secret to rotate", $"{uuid} has no secret in the store, so there is nothing to rotate; create an entry for it instead.")).ConfigureAwait(false);
            return;
        }

        await WriteAsync(context, StatusCodes.Status200OK, AdminPages.ConfirmRotate(uuid, Csrf(context))).ConfigureAwait(false);
    }

    private async Task RotateAsync(HttpContext context)
    {
        if (await ReadFormAsync(context).ConfigureAwait(false) is null)
        {
            return;
        }

        if (store is null)
        {
            await WriteNoStoreAsync(context).ConfigureAwait(false);
            return;
        }

        if (!UuidText.TryNormalize(context.Request.RouteValues["uuid"] as string, out var uuid)
            || !await store.RotateAsync(uuid, context.RequestAborted).ConfigureAwait(false))
        {
            await WriteNotFoundAsync(context).ConfigureAwait(false);
            return;
        }

        AdminLog.SecretRotated(logger, uuid);
        Redirect(context, AdminPages.EntryPath(uuid) + "?done=rotated");
    }

    private async Task ConfirmDeleteAsync(HttpContext context)
    {
        if (await FindAsync(context).ConfigureAwait(false) is var (uuid, entry, _))
        {
            await WriteAsync(context, StatusCodes.Status200OK, AdminPages.ConfirmDelete(uuid, entry is not null, Csrf(context))).ConfigureAwait(false);
        }
    }

    private async Task DeleteAsync(HttpContext context)
    {
        if (await ReadFormAsync(context).ConfigureAwait(false) is null)
        {
            return;
        }

        if (!UuidText.TryNormalize(context.Request.RouteValues["uuid"] as string, out var uuid))
        {
            await WriteNotFoundAsync(context).ConfigureAwait(false);
            return;
        }

        var known = IsKnown(broker.Activity.Get(uuid));
        var removed = store is not null && await store.RemoveAsync(uuid, context.RequestAborted).ConfigureAwait(false);
        var unregistered = await directory.UnregisterAsync(uuid, context.RequestAborted).ConfigureAwait(false);
        broker.Activity.Forget(uuid);
        if (!known && !removed && !unregistered)
        {
            await WriteNotFoundAsync(context).ConfigureAwait(false);
            return;
        }

        AdminLog.EntryDeleted(logger, uuid, removed, unregistered);
        Redirect(context, "/?deleted=" + Uri.EscapeDataString(uuid));
    }

    /// <summary>The UUID of the route with its entry and activity; answers 404 and returns null when neither the store nor the relay knows it.</summary>
    private async Task<(string Uuid, RegistrationEntry? Entry, UuidActivity Activity)?> FindAsync(HttpContext context)
    {
        if (UuidText.TryNormalize(context.Request.RouteValues["uuid"] as string, out var uuid))
        {
            var entry = store is null ? null : await store.TryGetAsync(uuid, context.RequestAborted).ConfigureAwait(false);
            var activity = broker.Activity.Get(uuid);
            if (entry is not null || IsKnown(activity))
            {
                return (uuid, entry, activity);
            }
        }

        await WriteNotFoundAsync(context).ConfigureAwait(false);
        return null;
    }

    private static bool IsLoopbackName(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(host.TrimStart('[').TrimEnd(']'), out var address) && System.Net.IPAddress.IsLoopback(address));

    private static bool IsKnown(UuidActivity activity) =>
        activity.Registered || activity.Parked > 0 || activity.LiveSessions > 0 || activity.Sessions > 0 || activity.Registrations > 0 || activity.Failures > 0;

    private Task WriteNotFoundAsync(HttpContext context) => WriteAsync(
        context,
        StatusCodes.Status404NotFound,
        AdminPages.Error("Not found", store is null
            ? $"No entry for '{context.Request.RouteValues["uuid"]}': the relay has not seen it since the service started. {AdminPages.NoStoreMessage}"
            : $"No entry for '{context.Request.RouteValues["uuid"]}': it is not in the secret store and the relay has not seen it since the service started."));

    /// <summary>
    /// Answers a request that needs the entries store when the server's policy provides none: 501, saying so and what
    /// works instead.
    /// </summary>
    private static Task WriteNoStoreAsync(HttpContext context) =>
        WriteAsync(context, StatusCodes.Status501NotImplemented, AdminPages.Error("No entries store", AdminPages.NoStoreMessage));

    /// <summary>The hidden server's config file for <paramref name="uuid"/>, or why none can be made here.</summary>
    private async Task<(string? Json, string? Reason)> ConfigAsync(HttpContext context, string uuid, RegistrationEntry? entry)
    {
        if (store is null)
        {
            return (null, AdminPages.NoStoreMessage);
        }

        if (entry is null)
        {
            return (null, "There is no secret in the store for this UUID, so there is no config file.");
        }

        if (registrar.Url is not { } bound)
        {
            return (null, "The built-in registrar is turned off (Rendezvous:RegistrarUrl is empty), so this page does not know the registrar's URL; write the file with 'rendezvous users add --config-out FILE --registrar-url URL'.");
        }

        if (registrar.CertificateFingerprint is not { } fingerprint)
        {
            return (null, "The built-in registrar serves plain http (behind a TLS-terminating proxy), so there is no registrar certificate here for the config file to pin.");
        }

        var host = registrarOptions.Value.PublicHost is { Length: > 0 } publicHost ? publicHost : RequestHostName(context);
        Uri url;
        try
        {
            url = new UriBuilder(bound.Scheme, host, bound.Port, "/").Uri;
        }
        catch (UriFormatException)
        {
            return (null, $"The host name '{host}' this page was reached by cannot be put into a URL; set Rendezvous:Registrar:PublicHost (--public-host) to the registrar's public name.");
        }

        if (await store.TryGetClientSettingsAsync(uuid, context.RequestAborted).ConfigureAwait(false) is not { } settings)
        {
            return (null, "The entries store does not give this entry's credentials back (it shows them only when it makes them), so this page cannot write its config file.");
        }

        // The layout of the hidden server's config file (rendezvous expose --config): registrar, UUID, the policy's settings, pin.
        var json = new JsonObject { ["registrarUrl"] = url.ToString(), ["uuid"] = uuid };
        foreach (var (name, value) in settings.ToArray())
        {
            settings.Remove(name);
            json[name] = value;
        }

        json["registrarFingerprint"] = fingerprint;
        return (json.ToJsonString(ConfigFileJson) + "\n", null);
    }
}
