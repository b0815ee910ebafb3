namespace Rendezvous.Security.Internal;

/// <summary>
/// Remembers which remote addresses (throttling keys, see <see cref="Rendezvous.Protocol.Policy.FailureThrottle.AddressKey"/>) registered
/// successfully for which UUID, for a fixed time after their last success. Memory is bounded: at most
/// <c>maxPerUuid</c> addresses per UUID (the least recently successful is forgotten first) and <c>maxTotal</c> in
/// all (the expired and then the least recently successful are forgotten first). Only a success adds or renews an
/// entry, and a success needs the UUID's secret, so a guesser cannot grow it. Thread-safe.
/// </summary>
internal sealed class KnownAddresses
{
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _lifetime;
    private readonly int _maxPerUuid;
    private readonly int _maxTotal;
    private readonly Dictionary<string, List<LinkedListNode<Entry>>> _byUuid = new(StringComparer.Ordinal);

    // Entries in order of last success; all have the same lifetime, so the head expires first.
    private readonly LinkedList<Entry> _order = new();
    private readonly Lock _lock = new();

    public KnownAddresses(TimeProvider timeProvider, TimeSpan lifetime, int maxPerUuid, int maxTotal)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerUuid, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTotal, 1);
        _timeProvider = timeProvider;
        _lifetime = lifetime;
        _maxPerUuid = maxPerUuid;
        _maxTotal = maxTotal;
    }

    /// <summary>How many addresses are remembered now, over all UUIDs.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _order.Count;
            }
        }
    }

    /// <summary>Whether <paramref name="address"/> registered successfully for <paramref name="uuid"/> within the lifetime.</summary>
    public bool Contains(string uuid, string address)
    {
        DateTimeOffset now = _timeProvider.GetUtcNow();
        lock (_lock)
        {
            EvictExpired(now);
            return Find(uuid, address) is not null;
        }
    }

    /// <summary>Records a successful registration of <paramref name="uuid"/> from <paramref name="address"/>.</summary>
    public void Remember(string uuid, string address)
    {
        DateTimeOffset now = _timeProvider.GetUtcNow();
        lock (_lock)
        {
            EvictExpired(now);
            if (Find(uuid, address) is { } known)
            {
                known.Value.LastSuccess = now;
                _order.Remove(known);
                _order.AddLast(known);
                return;
            }

            if (_byUuid.TryGetValue(uuid, out List<LinkedListNode<Entry>>? nodes) && nodes.Count >= _maxPerUuid)
            {
                Remove(nodes.MinBy(n => n.Value.LastSuccess)!);
            }

            while (_order.Count >= _maxTotal)
            {
                Remove(_order.First!);
            }

            if (!_byUuid.TryGetValue(uuid, out nodes))
            {
                nodes = [];
                _byUuid.Add(uuid, nodes);
            }

            nodes.Add(_order.AddLast(new Entry(uuid, address, now)));
        }
    }

    private LinkedListNode<Entry>? Find(string uuid, string address) =>
        _byUuid.TryGetValue(uuid, out List<LinkedListNode<Entry>>? nodes)
            ? nodes.Find(n => string.Equals(n.Value.Address, address, StringComparison.Ordinal))
            : null;

    private void EvictExpired(DateTimeOffset now)
    {
        while (_order.First is { } first && now >= first.Value.LastSuccess + _lifetime)
        {
            Remove(first);
        }
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _order.Remove(node);
        List<LinkedListNode<Entry>> nodes = _byUuid[node.Value.Uuid];
        nodes.Remove(node);
        if (nodes.Count == 0)
        {
            _byUuid.Remove(node.Value.Uuid);
        }
    }

    private sealed class Entry(string uuid, string address, DateTimeOffset lastSuccess)
    {
        public string Uuid { get; } = uuid;

        public string Address { get; } = address;

        public DateTimeOffset LastSuccess { get; set; } = lastSuccess;
    }
}
