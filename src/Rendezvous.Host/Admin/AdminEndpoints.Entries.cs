using System.Globalization;
using Microsoft.AspNetCore.Http;
using Rendezvous.Client.Agent;
using Rendezvous.Protocol.Broker;
using Rendezvous.Security;

namespace Rendezvous.Host.Admin;

internal sealed partial class AdminEndpoints
{
    private Task NewEntryFormAsync(HttpContext context) =>
        WriteAsync(context, StatusCodes.Status200OK, AdminPages.NewEntry(AdminPages.NewEntryForm.Defaults, Csrf(context), null));

    private async Task CreateAsync(HttpContext context)
    {
        if (await ReadFormAsync(context).ConfigureAwait(false) is not { } form)
        {
            return;
        }

        var typed = new AdminPages.NewEntryForm(form["uuid"].ToString().Trim(), form["step"].ToString().Trim(), form["digits"].ToString().Trim());
        var problems = new List<string>();
        string? uuid;
        if (typed.Uuid.Length == 0)
        {
            uuid = Guid.NewGuid().ToString("D");
        }
        else if (!SecretFormat.TryNormalizeUuid(typed.Uuid, out uuid))
        {
            problems.Add($"The UUID '{typed.Uuid}' is not a UUID; enter one in the form 123e4567-e89b-12d3-a456-426614174000, or leave it empty for a random one.");
        }

        if (!int.TryParse(typed.Step, NumberStyles.None, CultureInfo.InvariantCulture, out var step) || !SecretFormat.IsValidStep(step))
        {
            problems.Add($"The time step '{typed.Step}' is not accepted; it must be a whole number of seconds from {SecretFormat.MinimumStep} to {SecretFormat.MaximumStep}.");
        }

        if (!int.TryParse(typed.Digits, NumberStyles.None, CultureInfo.InvariantCulture, out var digits) || !SecretFormat.IsValidDigits(digits))
        {
            problems.Add($"The digits '{typed.Digits}' are not accepted; a code has from {SecretFormat.MinimumDigits} to {SecretFormat.MaximumDigits} digits.");
        }

        if (problems.Count > 0)
        {
            await WriteAsync(context, StatusCodes.Status400BadRequest, AdminPages.NewEntry(typed, Csrf(context), string.Join(" ", problems))).ConfigureAwait(false);
            return;
        }

        try
        {
            await store.AddAsync(new SecretEntry(uuid!, SecretFormat.CreateRandomSecret(), step, digits, time.GetUtcNow()), context.RequestAborted).ConfigureAwait(false);
        }
        catch (DuplicateSecretException)
        {
            await WriteAsync(context, StatusCodes.Status409Conflict, AdminPages.NewEntry(typed, Csrf(context), $"The UUID {uuid} already has an entry; open it from the list to rotate its secret or delete it.")).ConfigureAwait(false);
            return;
        }

        AdminLog.EntryCreated(logger, uuid!, step, digits);
        Redirect(context, AdminPages.EntryPath(uuid!) + "?done=created");
    }

    private async Task ShowAsync(HttpContext context)
    {
        if (await FindAsync(context).ConfigureAwait(false) is not var (uuid, entry, activity))
        {
            return;
        }

        var (json, reason) = entry is null ? (null, "There is no secret in the store for this UUID, so there is no config file.") : Config(context, entry);
        var warning = json is not null && string.IsNullOrEmpty(registrarOptions.Value.PublicHost) && IsLoopbackName(RequestHostName(context))
            ? $"This file names the registrar as {RequestHostName(context)}, the name this page was opened by, because Rendezvous:Registrar:PublicHost is not set: a hidden server on another machine cannot reach it there. Set PublicHost (--public-host) to the server's public name and restart, or edit registrarUrl in the file."
            : null;
        var notice = context.Request.Query["done"].ToString() switch
        {
            "created" => $"Created {uuid}. Give the hidden server the config file below.",
            "rotated" => $"Rotated the secret of {uuid}. Codes from the old secret no longer work: give the hidden server the new config file below.",
            _ => null,
        };
        await WriteAsync(context, StatusCodes.Status200OK, AdminPages.Entry(uuid, entry, activity, new AdminPages.ConfigFile(json, reason, warning), Csrf(context), notice)).ConfigureAwait(false);
    }

    private async Task DownloadAsync(HttpContext context)
    {
        if (await FindAsync(context).ConfigureAwait(false) is not var (uuid, entry, _))
        {
            return;
        }

        var (json, reason) = entry is null ? (null, "There is no secret in the store for this UUID, so there is no config file.") : Config(context, entry);
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

        if (!SecretFormat.TryNormalizeUuid(context.Request.RouteValues["uuid"] as string, out var uuid)
            || !await store.ReplaceSecretAsync(uuid, SecretFormat.CreateRandomSecret(), context.RequestAborted).ConfigureAwait(false))
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

        if (!SecretFormat.TryNormalizeUuid(context.Request.RouteValues["uuid"] as string, out var uuid))
        {
            await WriteNotFoundAsync(context).ConfigureAwait(false);
            return;
        }

        var known = IsKnown(broker.Activity.Get(uuid));
        var removed = await store.RemoveAsync(uuid, context.RequestAborted).ConfigureAwait(false);
        var unregistered = broker.Unregister(uuid);
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
    private async Task<(string Uuid, SecretEntry? Entry, UuidActivity Activity)?> FindAsync(HttpContext context)
    {
        if (SecretFormat.TryNormalizeUuid(context.Request.RouteValues["uuid"] as string, out var uuid))
        {
            var entry = await store.TryGetAsync(uuid, context.RequestAborted).ConfigureAwait(false);
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

    private static Task WriteNotFoundAsync(HttpContext context) => WriteAsync(
        context,
        StatusCodes.Status404NotFound,
        AdminPages.Error("Not found", $"No entry for '{context.Request.RouteValues["uuid"]}': it is not in the secret store and the relay has not seen it since the service started."));

    /// <summary>The hidden server's config file for <paramref name="entry"/>, or why none can be made here.</summary>
    private (string? Json, string? Reason) Config(HttpContext context, SecretEntry entry)
    {
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

        return (new HiddenServerConfigFile(url, entry.Uuid, SecretFormat.ToBase32(entry.Secret), entry.Step, entry.Digits, fingerprint).ToJson(), null);
    }
}
