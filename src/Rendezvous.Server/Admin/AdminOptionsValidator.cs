using System.Net;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;

namespace Rendezvous.Server.Admin;

/// <summary>Checks the admin settings and reports every bad value at once, naming each key and what is accepted.</summary>
internal sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        var errors = new List<string>();
        if (options.Enabled)
        {
            if (!EndpointText.TryParseListenUrl(options.Url, out var https, out var bindTo, out _))
            {
                errors.Add($"Rendezvous:Admin:Url is '{options.Url}'; it must be http://HOST:PORT or https://HOST:PORT with HOST an IP address or localhost and no path, e.g. http://127.0.0.1:8893, or '{AdminOptions.Off}' to turn the admin page off.");
            }
            else if (!IPAddress.IsLoopback(bindTo.Address) && !options.AllowRemote)
            {
                errors.Add($"Rendezvous:Admin:Url is '{options.Url}', which is not a loopback address, so the admin page would be reachable from the network{(https ? string.Empty : " over plain http")}. Keep it on 127.0.0.1 and reach it through an SSH tunnel (ssh -L 8893:127.0.0.1:8893 HOST), or set Rendezvous:Admin:AllowRemote=true to allow it (preferably with an https:// URL).");
            }
        }

        if (options.Token is { } token && AdminToken.Problem(token) is { } problem)
        {
            // The token is a secret: say what is wrong with it, never what it is.
            errors.Add($"Rendezvous:Admin:Token is set but {problem}; it must be at least {AdminOptions.MinimumTokenLength} printable characters without spaces, or unset to use a generated token.");
        }

        if (options.MaxLoginFailures is < 1 or > 1000)
        {
            errors.Add($"Rendezvous:Admin:MaxLoginFailures is {options.MaxLoginFailures}; it must be between 1 and 1000.");
        }

        if (options.LoginFailureWindow < TimeSpan.FromSeconds(1) || options.LoginFailureWindow > TimeSpan.FromDays(1))
        {
            errors.Add($"Rendezvous:Admin:LoginFailureWindow is {options.LoginFailureWindow}; it must be between 00:00:01 and 1.00:00:00.");
        }

        if (options.SessionLifetime < TimeSpan.FromMinutes(1) || options.SessionLifetime > TimeSpan.FromDays(30))
        {
            errors.Add($"Rendezvous:Admin:SessionLifetime is {options.SessionLifetime}; it must be between 00:01:00 and 30.00:00:00.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
