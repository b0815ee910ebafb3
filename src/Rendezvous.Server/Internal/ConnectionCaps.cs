using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;

namespace Rendezvous.Server.Internal;

/// <summary>A listener outside this library that holds up to <paramref name="Descriptors"/> connections (the admin page of <c>rendezvous serve</c>).</summary>
/// <param name="What">Named in the warning, e.g. "the admin listener".</param>
/// <param name="Descriptors">Its connection cap.</param>
internal sealed record DescriptorReservation(string What, int Descriptors);

/// <summary>
/// The connection caps the listeners use: the configured ones, lowered at first use when the relay's, the registrar's
/// and the other listeners' caps plus a reserve (the descriptors open at start, mostly the loaded assemblies, which .NET
/// keeps open, plus <see cref="Margin"/> for what opens later) do not fit in the
/// process's descriptor limit (RLIMIT_NOFILE), so a flood meets a cap instead of EMFILE (which can abort the process:
/// a runtime thread that cannot open a file fails with "Out of memory."). Refuses to start when fewer than
/// <see cref="MinimumUsable"/> connections would be left.
/// </summary>
internal sealed class ConnectionCaps
{
    /// <summary>Descriptors kept, beyond those open at start, for assemblies loaded later, the database, logs and the runtime.</summary>
    public const int Margin = 256;

    /// <summary>The fewest connections (relay and registrar together) worth starting with.</summary>
    public const int MinimumUsable = 64;

    private readonly Lazy<Fitted> _fitted;

    public ConnectionCaps(
        IOptions<RendezvousServerOptions> serverOptions,
        IOptions<RendezvousRelayOptions> relayOptions,
        IEnumerable<DescriptorReservation> reservations,
        ILogger<ConnectionCaps> logger,
        long? descriptorLimit,
        int? openDescriptors)
    {
        _fitted = new Lazy<Fitted>(() =>
        {
            var server = serverOptions.Value;
            var registrar = string.IsNullOrEmpty(server.RegistrarUrl) ? 0 : server.RegistrarMaxConnections;
            var fitted = Fit(descriptorLimit, (openDescriptors ?? 0) + Margin, relayOptions.Value.MaxConnections, registrar, server.RegistrarMaxConnectionsPerAddress, [.. reservations.Where(r => r.Descriptors > 0)]);
            if (fitted.Warning is { } warning)
            {
                ServerLog.CapsLowered(logger, warning);
            }

            return fitted;
        });
    }

    /// <summary>The relay's cap on open connections.</summary>
    public int RelayMaxConnections => _fitted.Value.Relay;

    /// <summary>The registrar listener's cap on open connections.</summary>
    public int RegistrarMaxConnections => _fitted.Value.Registrar;

    /// <summary>The registrar listener's cap on open connections per client address.</summary>
    public int RegistrarMaxConnectionsPerAddress => _fitted.Value.RegistrarPerAddress;

    /// <summary>Checks the caps now (logging the warning or throwing the refusal), so a listener can start with them.</summary>
    /// <exception cref="InvalidOperationException">Too few descriptors are left for the listeners.</exception>
    public void Apply() => _ = _fitted.Value;

    /// <summary>The caps as given, or lowered in proportion to fit in <paramref name="limit"/>, with a warning saying so.</summary>
    /// <param name="limit">The descriptor limit; <see langword="null"/> when unknown (then nothing is lowered).</param>
    /// <param name="reserve">Descriptors kept for files and the runtime.</param>
    /// <param name="relay">Rendezvous:Relay:MaxConnections.</param>
    /// <param name="registrar">Rendezvous:RegistrarMaxConnections, 0 without a registrar listener.</param>
    /// <param name="registrarPerAddress">Rendezvous:RegistrarMaxConnectionsPerAddress.</param>
    /// <param name="reservations">Other listeners' caps.</param>
    /// <exception cref="InvalidOperationException">Fewer than <see cref="MinimumUsable"/> connections would be left.</exception>
    public static Fitted Fit(long? limit, int reserve, int relay, int registrar, int registrarPerAddress, IReadOnlyList<DescriptorReservation> reservations)
    {
        var others = reservations.Sum(r => (long)r.Descriptors);
        var need = reserve + others + relay + registrar;
        if (limit is not { } max || need <= max)
        {
            return new Fitted(relay, registrar, Math.Min(registrarPerAddress, Math.Max(registrar, 1)), null);
        }

        var othersText = string.Concat(reservations.Select(r => string.Create(CultureInfo.InvariantCulture, $" + {r.Descriptors} for {r.What}")));
        var sum = string.Create(CultureInfo.InvariantCulture, $"Rendezvous:Relay:MaxConnections {relay} + Rendezvous:RegistrarMaxConnections {registrar}{othersText} + {reserve} kept for files and the runtime = {need}");
        const string Raise = "raise the limit (LimitNOFILE= in the systemd unit, ulimit -n or prlimit --nofile in a shell, nofile in Docker's --ulimit) or lower the caps";
        var available = max - reserve - others;
        if (available < MinimumUsable)
        {
            throw new InvalidOperationException(string.Create(
                CultureInfo.InvariantCulture,
                $"The process's descriptor limit (RLIMIT_NOFILE) is {max}, too low: {sum}, and lowering the caps would leave {Math.Max(available, 0)} connections (at least {MinimumUsable} are needed). To start, {Raise}."));
        }

        // In proportion to what was configured, each listener keeping at least a few.
        var newRelay = (int)Math.Max(2, available * relay / (relay + registrar));
        var newRegistrar = registrar == 0 ? 0 : (int)Math.Max(1, available - newRelay);
        newRelay = (int)Math.Min(newRelay, available - newRegistrar);
        var newPerAddress = Math.Min(registrarPerAddress, Math.Max(newRegistrar, 1));
        var changes = new List<string>();
        if (newRelay != relay)
        {
            changes.Add(string.Create(CultureInfo.InvariantCulture, $"Rendezvous:Relay:MaxConnections from {relay} to {newRelay}"));
        }

        if (newRegistrar != registrar)
        {
            changes.Add(string.Create(CultureInfo.InvariantCulture, $"Rendezvous:RegistrarMaxConnections from {registrar} to {newRegistrar}"));
        }

        if (newPerAddress != registrarPerAddress)
        {
            changes.Add(string.Create(CultureInfo.InvariantCulture, $"Rendezvous:RegistrarMaxConnectionsPerAddress from {registrarPerAddress} to {newPerAddress}"));
        }

        var warning = string.Create(
            CultureInfo.InvariantCulture,
            $"Lowered {string.Join(", ", changes)}: {sum}, more than the process's descriptor limit (RLIMIT_NOFILE) of {max}. To keep the configured caps, {Raise}.");
        return new Fitted(newRelay, newRegistrar, newPerAddress, warning);
    }

    /// <summary>The caps to use, and the warning to log when they are lower than configured.</summary>
    internal sealed record Fitted(int Relay, int Registrar, int RegistrarPerAddress, string? Warning);
}
