using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Policy;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Checks every server setting and reports all bad values at once, naming each key; and, given the
/// container, that a registration policy was added (a forgotten <c>AddTotpSecurity()</c> is otherwise a
/// bare "unable to resolve IRegistrationPolicy" from deep in the registrar).
/// </summary>
/// <param name="services">Tells whether a policy is registered; <see langword="null"/> skips that check.</param>
internal sealed class ServerOptionsValidator(IServiceProviderIsService? services = null) :
    IValidateOptions<RendezvousServerOptions>,
    IValidateOptions<RendezvousRelayOptions>,
    IValidateOptions<RegistrarOptions>
{
    /// <summary>The longest <see cref="RendezvousServerOptions.DrainTimeout"/> accepted.</summary>
    internal static readonly TimeSpan MaxDrainTimeout = TimeSpan.FromHours(1);

    public ValidateOptionsResult Validate(string? name, RendezvousServerOptions options)
    {
        var errors = new List<string>();
        if (services is not null && !services.IsService(typeof(IRegistrationPolicy)))
        {
            errors.Add(
                "No registration policy is registered, so nobody could register: add one after AddRendezvousServer(), "
                + "either .AddTotpSecurity() (the TOTP policy of Rendezvous.Security, with its secret store) "
                + "or .AddPolicy<TPolicy>() / .AddPolicy(instance) with your own IRegistrationPolicy.");
        }

        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            errors.Add("Rendezvous:DataDirectory is empty; it must name a folder, e.g. ./rendezvous-data.");
        }
        else if (File.Exists(options.DataDirectory))
        {
            errors.Add($"Rendezvous:DataDirectory is '{options.DataDirectory}', which is a file; it must name a folder (created if missing), e.g. ./rendezvous-data.");
        }

        if (!EndpointText.TryParseListen(options.RendezvousEndpoint, out _, out var endpointError))
        {
            errors.Add($"Rendezvous:RendezvousEndpoint {endpointError}.");
        }

        if (!string.IsNullOrEmpty(options.RegistrarUrl) && !EndpointText.TryParseListenUrl(options.RegistrarUrl, out _, out _, out var urlError))
        {
            errors.Add($"Rendezvous:RegistrarUrl {urlError}.");
        }

        if (string.IsNullOrEmpty(options.CertificatePath) != string.IsNullOrEmpty(options.KeyPath))
        {
            errors.Add("Rendezvous:CertificatePath and Rendezvous:KeyPath must be given together (--cert FILE --key FILE), or neither to use a generated certificate.");
        }

        if (!string.IsNullOrEmpty(options.CertificatePath) && !File.Exists(options.CertificatePath))
        {
            errors.Add($"Rendezvous:CertificatePath is '{options.CertificatePath}', which does not exist; it must be a PEM certificate file.");
        }

        if (!string.IsNullOrEmpty(options.KeyPath) && !File.Exists(options.KeyPath))
        {
            errors.Add($"Rendezvous:KeyPath is '{options.KeyPath}', which does not exist; it must be a PEM private key file.");
        }

        if (options.DrainTimeout < TimeSpan.Zero || options.DrainTimeout > MaxDrainTimeout)
        {
            errors.Add($"Rendezvous:DrainTimeout is {options.DrainTimeout}; it must be between 00:00:00 and {MaxDrainTimeout}.");
        }

        if (options.InvalidInlineSocketCompletions is { } inline)
        {
            errors.Add($"{SocketCompletionMode.ConfigurationKey} is '{inline}'; use true or false.");
        }

        if (options.RegistrarMaxConnections is < 1 or > 1_000_000)
        {
            errors.Add($"Rendezvous:RegistrarMaxConnections is {options.RegistrarMaxConnections}; it must be between 1 and 1000000.");
        }

        if (options.RegistrarMaxConnectionsPerAddress < 1 || options.RegistrarMaxConnectionsPerAddress > Math.Max(1, options.RegistrarMaxConnections))
        {
            errors.Add($"Rendezvous:RegistrarMaxConnectionsPerAddress is {options.RegistrarMaxConnectionsPerAddress}; it must be between 1 and Rendezvous:RegistrarMaxConnections ({options.RegistrarMaxConnections}).");
        }

        if (options.TrimMemoryAfterConnections is < 0 or > 1_000_000_000)
        {
            errors.Add($"Rendezvous:TrimMemoryAfterConnections is {options.TrimMemoryAfterConnections}; it must be between 0 (never trim) and 1000000000.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public ValidateOptionsResult Validate(string? name, RendezvousRelayOptions options)
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(options.Transport))
        {
            errors.Add($"Rendezvous:Relay:Transport is {(int)options.Transport}; it must be Auto, Socket or Epoll.");
        }
        else if (options.Transport == RelayTransport.Epoll && !EpollRelayListenerFactory.IsSupported)
        {
            errors.Add("Rendezvous:Relay:Transport is Epoll, which runs on Linux on x86-64 or ARM64 only; choose Socket or Auto here.");
        }

        if (options.FirstLineTimeout <= TimeSpan.Zero || options.FirstLineTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"Rendezvous:Relay:FirstLineTimeout is {options.FirstLineTimeout}; it must be more than 00:00:00 and at most 00:10:00.");
        }

        if (options.InitiatorGracePeriod < TimeSpan.Zero || options.InitiatorGracePeriod > TimeSpan.FromMinutes(5))
        {
            errors.Add($"Rendezvous:Relay:InitiatorGracePeriod is {options.InitiatorGracePeriod}; it must be between 00:00:00 and 00:05:00.");
        }

        if (options.ParkedConnectionsPerCookie is < 1 or > 1024)
        {
            errors.Add($"Rendezvous:Relay:ParkedConnectionsPerCookie is {options.ParkedConnectionsPerCookie}; it must be between 1 and 1024.");
        }

        if (options.MaxBufferedBytesPerDirection is < 1024 or > 64 * 1024 * 1024)
        {
            errors.Add($"Rendezvous:Relay:MaxBufferedBytesPerDirection is {options.MaxBufferedBytesPerDirection}; it must be between 1024 and 67108864.");
        }

        if (options.MaxUnsentBytesPerSocket != 0 && options.MaxUnsentBytesPerSocket is < 4096 or > 64 * 1024 * 1024)
        {
            errors.Add($"Rendezvous:Relay:MaxUnsentBytesPerSocket is {options.MaxUnsentBytesPerSocket}; it must be 0 (the kernel's choice) or between 4096 and 67108864.");
        }

        if (options.CloseLinger < TimeSpan.Zero || options.CloseLinger > TimeSpan.FromMinutes(10))
        {
            errors.Add($"Rendezvous:Relay:CloseLinger is {options.CloseLinger}; it must be between 00:00:00 and 00:10:00.");
        }

        if (options.MaxConnections is < 2 or > 1_000_000)
        {
            errors.Add($"Rendezvous:Relay:MaxConnections is {options.MaxConnections}; it must be between 2 and 1000000 (a spliced session holds two connections).");
        }

        if (options.MaxHandshakesPerAddress is < 1 or > 1_000_000)
        {
            errors.Add($"Rendezvous:Relay:MaxHandshakesPerAddress is {options.MaxHandshakesPerAddress}; it must be between 1 and 1000000.");
        }

        if (options.MaxSessionsPerAddressPerUuid is < 1 or > 1_000_000)
        {
            errors.Add($"Rendezvous:Relay:MaxSessionsPerAddressPerUuid is {options.MaxSessionsPerAddressPerUuid}; it must be between 1 and 1000000.");
        }

        if (options.MaxPoolAdvice is < 1 or > PoolAdvisor.MaxDemand)
        {
            errors.Add($"Rendezvous:Relay:MaxPoolAdvice is {options.MaxPoolAdvice}; it must be between 1 and {PoolAdvisor.MaxDemand} (advice never exceeds Rendezvous:Relay:ParkedConnectionsPerCookie either).");
        }

        if (options.PoolAdviceInterval < TimeSpan.FromMinutes(1) || options.PoolAdviceInterval > TimeSpan.FromDays(1))
        {
            errors.Add($"Rendezvous:Relay:PoolAdviceInterval is {options.PoolAdviceInterval}; it must be between 00:01:00 and 1.00:00:00.");
        }

        var maxKeepAlive = TimeSpan.FromSeconds(SocketTransportOptions.MaxKeepAliveSeconds);
        if (!SocketTransportOptions.IsValidKeepAliveSeconds(options.KeepAliveTime))
        {
            errors.Add($"Rendezvous:Relay:KeepAliveTime is {options.KeepAliveTime}; it must be whole seconds between 00:00:01 and {maxKeepAlive}.");
        }

        if (!SocketTransportOptions.IsValidKeepAliveSeconds(options.KeepAliveInterval))
        {
            errors.Add($"Rendezvous:Relay:KeepAliveInterval is {options.KeepAliveInterval}; it must be whole seconds between 00:00:01 and {maxKeepAlive}.");
        }

        if (!SocketTransportOptions.IsValidKeepAliveRetryCount(options.KeepAliveRetryCount))
        {
            errors.Add($"Rendezvous:Relay:KeepAliveRetryCount is {options.KeepAliveRetryCount}; it must be between 1 and {SocketTransportOptions.MaxKeepAliveRetryCount}.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public ValidateOptionsResult Validate(string? name, RegistrarOptions options)
    {
        var errors = new List<string>();
        if (options.PublicHost is { } host && (host.Length == 0 || host.Length > 253 || host.Any(c => c <= ' ' || c > '~' || c is '/' or '?' or '#' or '"')))
        {
            errors.Add($"Rendezvous:Registrar:PublicHost is '{host}'; it must be a host name or IP address without scheme, port or path, e.g. rendezvous.example.com.");
        }

        if (options.PublicPort is { } port && (port < 1 || port > 65535))
        {
            errors.Add($"Rendezvous:Registrar:PublicPort is {port}; it must be between 1 and 65535.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
