using Rendezvous.Protocol.Broker;

namespace Rendezvous.Protocol.Registrar;

/// <summary>
/// The directory of one node (the default): registrations are issued and looked up in the node's own broker, and the
/// hidden server parks at this node. Nothing is shared, so a cookie this node did not issue is never adopted. Given a
/// <see cref="PoolAdvisor"/>, registration answers carry its advice (<see cref="DirectoryEntry.PoolSize"/>) while
/// <see cref="Protocol.RendezvousRelayOptions.PoolAdvice"/> is on.
/// </summary>
public sealed class LocalRegistrationDirectory : IRegistrationDirectory
{
    private readonly RendezvousBroker _broker;
    private readonly PoolAdvisor? _advisor;

    /// <summary>Creates the directory; its registration answers carry no pool advice.</summary>
    /// <param name="broker">The node's broker.</param>
    public LocalRegistrationDirectory(RendezvousBroker broker)
    {
        ArgumentNullException.ThrowIfNull(broker);
        _broker = broker;
    }

    /// <summary>Creates the directory; its registration answers carry the advisor's pool size while advice is on.</summary>
    /// <param name="broker">The node's broker.</param>
    /// <param name="advisor">Sizes the pool each hidden server should keep parked.</param>
    public LocalRegistrationDirectory(RendezvousBroker broker, PoolAdvisor advisor)
        : this(broker)
    {
        ArgumentNullException.ThrowIfNull(advisor);
        _advisor = advisor;
    }

    /// <inheritdoc/>
    public ValueTask<DirectoryEntry> RegisterAsync(string uuid, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(new DirectoryEntry(_broker.Register(uuid), null, [], _advisor?.Advise(uuid)));

    /// <inheritdoc/>
    public ValueTask<DirectoryEntry?> LookupAsync(string uuid, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(_broker.TryGetInitiatorCookie(uuid, out var cookie) ? new DirectoryEntry(cookie, null, []) : null);

    /// <inheritdoc/>
    public ValueTask<bool> UnregisterAsync(string uuid, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(_broker.Unregister(uuid));

    /// <inheritdoc/>
    public ValueTask<bool> TryAdoptAsync(string initiatorCookie, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(false);
}
