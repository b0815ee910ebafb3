using Rendezvous.Protocol.Diagnostics;

namespace Rendezvous.Protocol.Broker;

/// <summary>
/// Per-UUID activity for operators (the admin page, <c>users show</c>): registrations, refusals, sessions
/// and bytes, kept in memory since the service started, with the broker's live state (registered, parked).
/// Memory is bounded: UUIDs that only ever failed to register are kept up to <see cref="MaxUnregisteredEntries"/>,
/// oldest dropped first; the rest are bounded by the UUIDs that proved their secret.
/// </summary>
public sealed class RendezvousActivity
{
    /// <summary>How many UUIDs that never registered (refusals only) are remembered.</summary>
    public const int MaxUnregisteredEntries = 10_000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.OrdinalIgnoreCase);
    private readonly Queue<Entry> _unregistered = new();
    private readonly RendezvousBroker _broker;
    private readonly TimeProvider _time;

    internal RendezvousActivity(RendezvousBroker broker, TimeProvider time)
    {
        _broker = broker;
        _time = time;
    }

    /// <summary>The activity of <paramref name="uuid"/>; all zero when nothing is known of it.</summary>
    /// <param name="uuid">The UUID, canonical.</param>
    /// <returns>Its activity.</returns>
    public UuidActivity Get(string uuid)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        lock (_lock)
        {
            return _entries.TryGetValue(uuid, out var entry) ? Read(entry) : Read(new Entry(uuid));
        }
    }

    /// <summary>The activity of every UUID the relay knows of (registered now, or seen since it started).</summary>
    /// <returns>One item per UUID, in no particular order.</returns>
    public IReadOnlyList<UuidActivity> Snapshot()
    {
        var known = new List<UuidActivity>();
        lock (_lock)
        {
            foreach (var entry in _entries.Values)
            {
                known.Add(Read(entry));
            }
        }

        return known;
    }

    /// <summary>Forgets what is known of <paramref name="uuid"/> (its entry was deleted). Live sessions go on uncounted.</summary>
    /// <param name="uuid">The UUID.</param>
    public void Forget(string uuid)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        lock (_lock)
        {
            _entries.Remove(uuid);
        }
    }

    internal void Registered(string uuid)
    {
        lock (_lock)
        {
            var entry = GetOrAdd(uuid);
            entry.Registrations++;
            entry.LastRegistered = _time.GetUtcNow();
        }
    }

    internal void Refused(string uuid)
    {
        lock (_lock)
        {
            var entry = GetOrAdd(uuid);
            entry.Failures++;
            entry.LastFailure = _time.GetUtcNow();
        }
    }

    /// <summary>Counts a session that starts; the returned counter takes its bytes and its end.</summary>
    internal SessionCounter StartSession(string uuid)
    {
        lock (_lock)
        {
            var entry = GetOrAdd(uuid);
            entry.Sessions++;
            entry.LiveSessions++;
            return new SessionCounter(this, entry);
        }
    }

    private void EndSession(Entry entry)
    {
        lock (_lock)
        {
            entry.LiveSessions--;
        }
    }

    private UuidActivity Read(Entry entry)
    {
        var (registered, parked) = _broker.GetState(entry.Uuid);
        return new UuidActivity(
            entry.Uuid,
            registered,
            parked,
            entry.LiveSessions,
            entry.Sessions,
            Interlocked.Read(ref entry.BytesRelayed),
            entry.Registrations,
            entry.LastRegistered,
            entry.Failures,
            entry.LastFailure);
    }

    private Entry GetOrAdd(string uuid)
    {
        if (_entries.TryGetValue(uuid, out var entry))
        {
            return entry;
        }

        entry = new Entry(uuid);
        _entries.Add(uuid, entry);
        _unregistered.Enqueue(entry);
        while (_unregistered.Count > MaxUnregisteredEntries)
        {
            // Entries that registered or had sessions are bounded by the UUIDs that proved their secret.
            var oldest = _unregistered.Dequeue();
            if (oldest.Registrations == 0 && oldest.Sessions == 0)
            {
                _entries.Remove(oldest.Uuid);
            }
        }

        return entry;
    }

    /// <summary>One session's share of a UUID's counters.</summary>
    internal sealed class SessionCounter(RendezvousActivity owner, Entry entry)
    {
        private int _ended;

        /// <summary>
        /// A callback for the splice that adds relayed bytes to <paramref name="metrics"/> and to the UUID's count. It
        /// is made once per UUID (and metrics), not per session: idle sessions are counted in thousands.
        /// </summary>
        public Action<long> BytesCallback(RendezvousMetrics metrics)
        {
            var cached = Volatile.Read(ref entry.OnBytes);
            if (cached is not null && cached.Target is BytesTarget target && ReferenceEquals(target.Metrics, metrics))
            {
                return cached;
            }

            var made = new BytesTarget(metrics, entry).Add;
            Volatile.Write(ref entry.OnBytes, made);
            return made;
        }

        /// <summary>The session ended; safe to call more than once.</summary>
        public void End()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                owner.EndSession(entry);
            }
        }
    }

    /// <summary>What <see cref="SessionCounter.BytesCallback"/> calls: the metrics and one UUID's count.</summary>
    private sealed class BytesTarget(RendezvousMetrics metrics, Entry entry)
    {
        public RendezvousMetrics Metrics => metrics;

        public void Add(long bytes)
        {
            metrics.BytesRelayed(bytes);
            Interlocked.Add(ref entry.BytesRelayed, bytes);
        }
    }

    internal sealed class Entry(string uuid)
    {
        public long BytesRelayed;

        /// <summary>The splice's byte callback for this UUID (<see cref="SessionCounter.BytesCallback"/>).</summary>
        public Action<long>? OnBytes;

        public string Uuid { get; } = uuid;

        public int LiveSessions { get; set; }

        public long Sessions { get; set; }

        public long Registrations { get; set; }

        public DateTimeOffset? LastRegistered { get; set; }

        public long Failures { get; set; }

        public DateTimeOffset? LastFailure { get; set; }
    }
}
