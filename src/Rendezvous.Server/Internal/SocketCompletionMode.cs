using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Rendezvous.Server.Internal;

/// <summary>
/// Applies <see cref="RendezvousServerOptions.InlineSocketCompletions"/>: when the host starts, before any hosted
/// service's <c>StartAsync</c> (so before any listener, Kestrel's included), sets
/// <see cref="Variable"/> to <c>1</c> unless it is set already. The runtime has no other switch for it (no
/// <c>AppContext</c> switch, no API): its socket engine reads the variable once, when the first socket of the
/// process is registered with it for asynchronous I/O, so this takes effect only if nothing in the process did
/// asynchronous socket I/O before the host started. Unix only (epoll, kqueue); Windows ignores the variable.
/// </summary>
internal sealed class SocketCompletionMode(IOptions<RendezvousServerOptions> options) : IHostedLifecycleService
{
    /// <summary>The runtime's switch that runs socket completions on the event thread instead of a thread-pool hop.</summary>
    internal const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>The configuration key of <see cref="RendezvousServerOptions.InlineSocketCompletions"/>.</summary>
    internal const string ConfigurationKey = "Rendezvous:Relay:InlineSocketCompletions";

    /// <summary>Reads <see cref="ConfigurationKey"/> into the options; a value that is not a boolean is kept for the validator to name.</summary>
    internal static void Bind(RendezvousServerOptions options, IConfiguration configuration)
    {
        var value = configuration[ConfigurationKey];
        if (string.IsNullOrWhiteSpace(value))
        {
            return;
        }

        if (bool.TryParse(value.Trim(), out var inline))
        {
            options.InlineSocketCompletions = inline;
        }
        else
        {
            options.InvalidInlineSocketCompletions = value;
        }
    }

    /// <summary>Whether this host set <see cref="Variable"/> when it started (it was not set, and the option is on).</summary>
    internal bool Applied { get; private set; }

    /// <summary>Sets <see cref="Variable"/> to <c>1</c> when <paramref name="inline"/> and the variable is not set yet (an operator's setting wins).</summary>
    /// <returns>Whether it set the variable.</returns>
    internal static bool Apply(bool inline)
    {
        if (inline && Environment.GetEnvironmentVariable(Variable) is null)
        {
            Environment.SetEnvironmentVariable(Variable, "1");
            return true;
        }

        return false;
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        Applied = Apply(options.Value.InlineSocketCompletions);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Once every listener has started (the socket engine has read the variable by then), takes back a variable this
    /// host set, so that processes the application starts later do not inherit a mode chosen for the relay.
    /// </summary>
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (Applied)
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }

        return Task.CompletedTask;
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
