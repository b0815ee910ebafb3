using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Gives the host time for the relay's drain: sets <see cref="HostOptions.ShutdownTimeout"/> to
/// <see cref="RendezvousServerOptions.DrainTimeout"/> plus <see cref="Margin"/> when it is still the host's default
/// (30 s) or shorter than that; a longer value the application set (in code or <c>shutdownTimeoutSeconds</c> in
/// configuration) is kept. The host reads its options when it is built, before <c>ValidateOnStart</c> runs, so the
/// drain time is read here without validation: bad settings are still reported when the host starts.
/// </summary>
internal sealed class ShutdownTimeoutFromDrain(
    IEnumerable<IConfigureOptions<RendezvousServerOptions>> setups,
    IEnumerable<IPostConfigureOptions<RendezvousServerOptions>> postConfigures) : IPostConfigureOptions<HostOptions>
{
    /// <summary>What the host gets beyond the drain time to stop everything else (the registrar's Kestrel, other services).</summary>
    internal static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan HostDefault = new HostOptions().ShutdownTimeout;

    public void PostConfigure(string? name, HostOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name != Options.DefaultName)
        {
            return;
        }

        TimeSpan drain;
        try
        {
            drain = new OptionsFactory<RendezvousServerOptions>(setups, postConfigures).Create(Options.DefaultName).DrainTimeout;
        }
        catch (InvalidOperationException)
        {
            // A value the binder cannot convert: left to ValidateOnStart, which names it when the host starts.
            return;
        }

        if (drain < TimeSpan.Zero || drain > ServerOptionsValidator.MaxDrainTimeout)
        {
            return; // out of range: the validator names it at start
        }

        var needed = drain + Margin;
        if (options.ShutdownTimeout == HostDefault || options.ShutdownTimeout < needed)
        {
            options.ShutdownTimeout = needed;
        }
    }
}
