using Rendezvous.Protocol.Broker;

namespace Rendezvous.Protocol.Registrar;

/// <summary>
/// The directory of one node (the default): registrations are issued and looked up in the node's own broker, and the
/// hidden server parks at this node. Nothing is shared, so a cookie this node did not issue is never adopted.
/// </summary>
public sealed class LocalRegistrationDirectory : IRegistrationDirectory
{
    private readonly RendezvousBroker _broker;

    /// <summary>Creates the directory.</summary>
    /// <param name="broker">The node's broker.</param>
    public LocalRegistrationDirectory(RendezvousBroker broker)
    {
        ArgumentNullException.ThrowIfNull(broker);
        _broker = broker;
    }

    /// <inheritdoc/>
    public ValueTask<DirectoryEntry> RegisterAsync(string uuid, CancellationToken cancellationToken = default)
        => ValueTask.FromResult(new DirectoryEntry(_broker.Register(uuid), null, []));

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
