using Microsoft.Extensions.Options;
using Rendezvous.Protocol.Diagnostics;

namespace Rendezvous.Protocol.Broker;

/// <summary>
/// Sizes the pool of connections a hidden server should keep parked, from the demand the relay measures for its UUID:
/// the peak number of initiators that needed a responder within <see cref="BurstWindow"/> of each other (the time an
/// agent takes to park again after a pairing), over the last <see cref="RendezvousRelayOptions.PoolAdviceInterval"/>,
/// plus one when an initiator had to wait for a responder (the grace wait) or was refused <c>not ready</c> in that
/// interval. The advice is that demand (or, in a cluster, the larger demand another node reported, see
/// <see cref="RecordRemoteDemand"/>) bounded to 1 …
/// <see cref="RendezvousRelayOptions.MaxPoolAdvice"/> and to <see cref="RendezvousRelayOptions.ParkedConnectionsPerCookie"/>
/// (a larger pool would only be closed as full), and lowered in proportion when the connections parked at this node pass
/// half of its connection cap: an idle hidden server is told 1, a busy one as many as its bursts need.
/// </summary>
/// <remarks>
/// Only UUIDs with a current registration are measured (an initiator whose cookie is not registered is not counted), and
/// the state kept is bounded: at most <see cref="MaxTrackedUuids"/> UUIDs, the least recently active forgotten first,
/// each with at most <see cref="MaxDemand"/> recent arrival times; a UUID quiet for a whole interval is forgotten.
/// Totals since the start (sessions, bytes) are <see cref="RendezvousActivity"/>'s; this keeps only the recent window.
/// Thread-safe.
/// </remarks>
public sealed class PoolAdvisor
{
    /// <summary>How many UUIDs are measured at once; beyond it the least recently active is forgotten.</summary>
    public const int MaxTrackedUuids = 50_000;

    /// <summary>The largest demand recorded for a UUID, and the largest <see cref="RendezvousRelayOptions.MaxPoolAdvice"/>.</summary>
    public const int MaxDemand = 64;

    /// <summary>How many slots an interval is remembered in: demand leaves the advice one slot at a time.</summary>
    private const int Slots = 10;

    /// <summary>Initiators that arrive within this time of each other count as needing a responder at once.</summary>
    public static readonly TimeSpan BurstWindow = TimeSpan.FromSeconds(1);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Demand> _byUuid = new(StringComparer.OrdinalIgnoreCase);
    private readonly LinkedList<Demand> _byActivity = new();
    private readonly RendezvousBroker _broker;
    private readonly IOptionsMonitor<RendezvousRelayOptions> _options;
    private readonly TimeProvider _time;
    private readonly RendezvousMetrics _metrics;
    private readonly Func<int> _connectionCap;

    /// <summary>Creates an advisor whose node's connection cap is <see cref="RendezvousRelayOptions.MaxConnections"/>.</summary>
    /// <param name="broker">The broker, whose parked connections tell the node's load.</param>
    /// <param name="options">Whether advice is on, its bounds and interval.</param>
    /// <param name="time">The clock demand is measured with.</param>
    /// <param name="metrics">Where advice given is counted.</param>
    public PoolAdvisor(RendezvousBroker broker, IOptionsMonitor<RendezvousRelayOptions> options, TimeProvider time, RendezvousMetrics metrics)
        : this(broker, options, time, metrics, () => options.CurrentValue.MaxConnections)
    {
    }

    /// <summary>Creates an advisor.</summary>
    /// <param name="broker">The broker, whose parked connections tell the node's load.</param>
    /// <param name="options">Whether advice is on, its bounds and interval.</param>
    /// <param name="time">The clock demand is measured with.</param>
    /// <param name="metrics">Where advice given is counted.</param>
    /// <param name="connectionCap">The relay's connection cap now (a server may lower the configured one to fit its descriptor limit).</param>
    public PoolAdvisor(RendezvousBroker broker, IOptionsMonitor<RendezvousRelayOptions> options, TimeProvider time, RendezvousMetrics metrics, Func<int> connectionCap)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(connectionCap);
        _broker = broker;
        _options = options;
        _time = time;
        _metrics = metrics;
        _connectionCap = connectionCap;
    }

    /// <summary>Whether advice is given (<see cref="RendezvousRelayOptions.PoolAdvice"/>).</summary>
    public bool IsEnabled => _options.CurrentValue.PoolAdvice;

    /// <summary>How many UUIDs are measured now.</summary>
    public int TrackedCount
    {
        get
        {
            lock (_lock)
            {
                return _byUuid.Count;
            }
        }
    }

    /// <summary>
    /// The pool <paramref name="uuid"/>'s hidden server should keep parked, counted in the metric
    /// <c>rendezvous.pool.advice</c>: call it once per registration answer.
    /// </summary>
    /// <param name="uuid">The UUID.</param>
    /// <returns>The advice, 1 or more; <see langword="null"/> when advice is off.</returns>
    public int? Advise(string uuid)
    {
        var advice = Peek(uuid);
        if (advice is { } given)
        {
            _metrics.PoolAdvised(given);
        }

        return advice;
    }

    /// <summary>The advice <see cref="Advise"/> would give now, without counting it (for the admin page).</summary>
    /// <param name="uuid">The UUID.</param>
    /// <returns>The advice, 1 or more; <see langword="null"/> when advice is off.</returns>
    public int? Peek(string uuid)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        var options = _options.CurrentValue;
        if (!options.PoolAdvice)
        {
            return null;
        }

        int demand;
        lock (_lock)
        {
            demand = Find(uuid, Now()) is { } entry ? Math.Max(entry.Local.Peak(), entry.Remote.Peak()) : 0;
        }

        var advice = Math.Clamp(demand, 1, Math.Max(1, Math.Min(options.MaxPoolAdvice, options.ParkedConnectionsPerCookie)));

        // Past half of the node's connection cap in parked connections, advice shrinks in proportion, to 1 at the cap.
        var cap = Math.Max(1, _connectionCap());
        var load = Math.Min(1.0, (double)_broker.ParkedCount / cap);
        if (load > 0.5)
        {
            advice = Math.Max(1, (int)(advice * (1 - load) / 0.5));
        }

        return advice;
    }

    /// <summary>
    /// The demand this node measured for <paramref name="uuid"/> over the interval (peak initiators at once, plus one
    /// when some had to wait), before bounds and load: what a cluster carries to the other nodes, which pass it to
    /// <see cref="RecordRemoteDemand"/>. Demand recorded from other nodes is not included, so it cannot echo for ever.
    /// </summary>
    /// <param name="uuid">The UUID.</param>
    /// <returns>0 to <see cref="MaxDemand"/>; 0 when nothing was measured.</returns>
    public int GetDemand(string uuid)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        lock (_lock)
        {
            return Find(uuid, Now())?.Local.Peak() ?? 0;
        }
    }

    /// <summary>
    /// Records the demand another node measured for <paramref name="uuid"/> (its <see cref="GetDemand"/>); the advice
    /// follows the larger of it and this node's own, and forgets it as it forgets its own, one slot at a time.
    /// </summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="demand">The other node's demand, 0 or more; more than <see cref="MaxDemand"/> counts as <see cref="MaxDemand"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="demand"/> is negative.</exception>
    public void RecordRemoteDemand(string uuid, int demand)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        ArgumentOutOfRangeException.ThrowIfNegative(demand);
        if (demand == 0 || !IsEnabled)
        {
            return;
        }

        lock (_lock)
        {
            var now = Now();
            GetOrAdd(uuid, now).Remote.Raise(now.Slot, Math.Min(demand, MaxDemand));
        }
    }

    /// <summary>An initiator for <paramref name="uuid"/> needs a responder (paired at once or about to wait).</summary>
    internal void InitiatorArrived(string uuid)
    {
        if (!IsEnabled)
        {
            return;
        }

        lock (_lock)
        {
            var now = Now();
            var entry = GetOrAdd(uuid, now);
            var arrivals = entry.Arrivals;
            var since = now.Ticks - BurstWindow.Ticks;
            while (arrivals.Count > 0 && (arrivals.Peek() <= since || arrivals.Count >= MaxDemand))
            {
                arrivals.Dequeue();
            }

            arrivals.Enqueue(now.Ticks);
            entry.Local.Raise(now.Slot, arrivals.Count);
        }
    }

    /// <summary>An initiator for <paramref name="uuid"/> found no responder parked: it waited (and was paired, or refused <c>not ready</c>).</summary>
    internal void InitiatorStarved(string uuid)
    {
        if (!IsEnabled)
        {
            return;
        }

        lock (_lock)
        {
            var now = Now();
            GetOrAdd(uuid, now).Local.Starve(now.Slot);
        }
    }

    /// <summary>The time now, as ticks and the index of its slot.</summary>
    private (long Ticks, long Slot) Now()
    {
        var ticks = _time.GetUtcNow().UtcTicks;
        var slotLength = Math.Max(1, _options.CurrentValue.PoolAdviceInterval.Ticks / Slots);
        return (ticks, ticks / slotLength);
    }

    /// <summary>The UUID's state, after dropping what is older than the interval; <see langword="null"/> when none is left. Call under the lock.</summary>
    private Demand? Find(string uuid, (long Ticks, long Slot) now)
    {
        ForgetQuiet(now.Slot);
        if (!_byUuid.TryGetValue(uuid, out var entry))
        {
            return null;
        }

        entry.Local.Age(now.Slot);
        entry.Remote.Age(now.Slot);
        return entry;
    }

    private Demand GetOrAdd(string uuid, (long Ticks, long Slot) now)
    {
        var entry = Find(uuid, now);
        if (entry is null)
        {
            entry = new Demand(uuid);
            _byUuid.Add(uuid, entry);
            while (_byUuid.Count > MaxTrackedUuids && _byActivity.First is { } oldest)
            {
                Remove(oldest.Value);
            }
        }
        else
        {
            _byActivity.Remove(entry.Node);
        }

        entry.LastSlot = now.Slot;
        _byActivity.AddLast(entry.Node);
        return entry;
    }

    /// <summary>Forgets the UUIDs quiet for a whole interval, least recently active first. Call under the lock.</summary>
    private void ForgetQuiet(long slot)
    {
        while (_byActivity.First is { } oldest && slot - oldest.Value.LastSlot >= Slots)
        {
            Remove(oldest.Value);
        }
    }

    private void Remove(Demand entry)
    {
        _byActivity.Remove(entry.Node);
        _byUuid.Remove(entry.Uuid);
    }

    /// <summary>One UUID's recent demand.</summary>
    private sealed class Demand
    {
        public Demand(string uuid)
        {
            Uuid = uuid;
            Node = new LinkedListNode<Demand>(this);
        }

        public string Uuid { get; }

        public LinkedListNode<Demand> Node { get; }

        public long LastSlot { get; set; }

        /// <summary>Arrival times within <see cref="BurstWindow"/> of the newest, at most <see cref="MaxDemand"/>.</summary>
        public Queue<long> Arrivals { get; } = new();

        public PeakSlots Local { get; } = new();

        public PeakSlots Remote { get; } = new();
    }

    /// <summary>The peak demand in each slot of the interval, and whether an initiator starved in it.</summary>
    private sealed class PeakSlots
    {
        private readonly int[] _peaks = new int[Slots];
        private readonly bool[] _starved = new bool[Slots];
        private long _newest = long.MinValue;

        /// <summary>The interval's peak, plus one when an initiator starved in it.</summary>
        public int Peak()
        {
            var peak = 0;
            var starved = false;
            for (var i = 0; i < Slots; i++)
            {
                peak = Math.Max(peak, _peaks[i]);
                starved |= _starved[i];
            }

            return Math.Min(MaxDemand, peak + (starved ? 1 : 0));
        }

        public void Raise(long slot, int demand)
        {
            var i = Age(slot);
            _peaks[i] = Math.Max(_peaks[i], demand);
        }

        public void Starve(long slot) => _starved[Age(slot)] = true;

        /// <summary>Clears the slots that left the interval since the newest one written; returns the index of <paramref name="slot"/>.</summary>
        public int Age(long slot)
        {
            if (slot > _newest)
            {
                var passed = _newest == long.MinValue ? Slots : Math.Min(Slots, slot - _newest);
                for (var k = 1; k <= passed; k++)
                {
                    var i = (int)((_newest + k) % Slots + Slots) % Slots;
                    _peaks[i] = 0;
                    _starved[i] = false;
                }

                _newest = slot;
            }

            return (int)(slot % Slots + Slots) % Slots;
        }
    }
}
