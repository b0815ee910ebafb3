using Microsoft.Extensions.Options;

namespace Rendezvous.Protocol.Broker;

/// <summary>What <see cref="RendezvousBroker.Park"/> did with a responder.</summary>
public enum ParkStatus
{
    /// <summary>The responder is parked (or was paired at once with a waiting initiator).</summary>
    Parked,

    /// <summary>The cookie is not a current <c>R</c> value; the responder was not parked.</summary>
    NotRegistered,
}

/// <summary>
/// Pairs hidden servers with mobile clients. Holds the cookie tables (UUID → current registration, and its
/// <c>I</c> value, derived from the <c>R</c> value by <see cref="RendezvousCookies.InitiatorValueFor"/>), the
/// connections parked per registration and the initiators waiting for one. An <c>R</c> line is matched by the
/// <c>I</c> value of its cookie, so the broker never keeps an <c>R</c> value, and the <c>I</c> value a lookup hands
/// anyone cannot park a connection (its own <c>I</c> value is another). A registration is issued here
/// (<see cref="Register"/>) or, in a cluster, adopted from the shared directory (<see cref="Adopt"/>); each carries
/// a generation so that a newer registration, wherever it was issued, supersedes an older one. Thread-safe; one lock
/// guards the tables and is never held across an await.
/// </summary>
/// <remarks>
/// A wait's outcome (<see cref="ParkedResponder.Outcome"/>, the result of <see cref="InitiateAsync"/>) is decided under
/// the lock and handed over once it is released, on the thread that decided it: the awaiting handler goes on there at
/// once (no thread-pool hop per rendezvous), never under the lock.
/// </remarks>
public sealed class RendezvousBroker
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Registration> _byUuid = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Registration> _byInitiatorCookie = new(StringComparer.Ordinal);
    private readonly IOptionsMonitor<RendezvousRelayOptions> _options;
    private readonly TimeProvider _time;
    private int _parked;
    private bool _closed;

    /// <summary>Creates a broker.</summary>
    /// <param name="options">Pool size and grace time.</param>
    /// <param name="time">The clock for grace waits.</param>
    public RendezvousBroker(IOptionsMonitor<RendezvousRelayOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _time = time;
        Activity = new RendezvousActivity(this, time);
    }

    /// <summary>Per-UUID registrations, refusals, sessions and bytes since the service started.</summary>
    public RendezvousActivity Activity { get; }

    /// <summary>How many connections are parked now.</summary>
    public int ParkedCount => Volatile.Read(ref _parked);

    /// <summary>How many UUIDs have a current cookie.</summary>
    public int RegistrationCount
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
    /// Issues a fresh registration for <paramref name="uuid"/>. The previous one stops being current at once:
    /// connections parked with it are closed and initiators waiting on it are told it is not registered.
    /// Sessions already spliced are not affected.
    /// </summary>
    /// <param name="uuid">The UUID that registered.</param>
    /// <returns>
    /// The new <c>R</c> value (printable ASCII, 192 random bits), for the registrant only; initiators use
    /// <see cref="RendezvousCookies.InitiatorValueFor"/> of it, which <see cref="TryGetInitiatorCookie"/> returns.
    /// </returns>
    public string Register(string uuid)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        var cookie = RendezvousCookies.NewResponderValue();
        var initiatorCookie = RendezvousCookies.InitiatorValueFor(cookie);
        var handoffs = default(Handoffs);
        lock (_lock)
        {
            var generation = _byUuid.TryGetValue(uuid, out var previous) ? previous.Generation + 1 : 1;
            Install(new Registration(uuid, initiatorCookie, generation), ref handoffs);
        }

        handoffs.Deliver();

        Activity.Registered(uuid);
        return cookie;
    }

    /// <summary>
    /// Makes a registration issued elsewhere (by another node of a cluster, through the shared directory) current
    /// here, so that its hidden server can park and its initiators pair on this node. A registration of the UUID
    /// held here with an older generation is superseded as by <see cref="Register"/>; one with the same or a newer
    /// generation is kept, and the adoption is ignored.
    /// </summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="initiatorCookie">The registration's <c>I</c> value.</param>
    /// <param name="generation">The registration's generation: higher is newer.</param>
    /// <returns>Whether the registration is current here now (adopted, or held already).</returns>
    public bool Adopt(string uuid, string initiatorCookie, long generation)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        ArgumentException.ThrowIfNullOrEmpty(initiatorCookie);
        var handoffs = default(Handoffs);
        lock (_lock)
        {
            if (_byUuid.TryGetValue(uuid, out var held) && held.Generation >= generation)
            {
                return string.Equals(held.InitiatorCookie, initiatorCookie, StringComparison.Ordinal);
            }

            Install(new Registration(uuid, initiatorCookie, generation), ref handoffs);
        }

        handoffs.Deliver();
        Activity.Registered(uuid);
        return true;
    }

    /// <summary>
    /// Supersedes the UUID's registration held here when it is older than <paramref name="generation"/> (a newer
    /// one was issued elsewhere): its parked connections are closed and its waiting initiators told it is not
    /// registered, as by <see cref="Register"/>. Sessions already spliced are not affected.
    /// </summary>
    /// <param name="uuid">The UUID.</param>
    /// <param name="generation">The generation of the registration that is current now.</param>
    /// <returns>Whether a registration was superseded.</returns>
    public bool Supersede(string uuid, long generation)
    {
        var handoffs = default(Handoffs);
        lock (_lock)
        {
            if (!_byUuid.TryGetValue(uuid, out var held) || held.Generation >= generation)
            {
                return false;
            }

            _byUuid.Remove(uuid);
            _byInitiatorCookie.Remove(held.InitiatorCookie);
            held.Close(ParkOutcome.Superseded, ref _parked, ref handoffs);
        }

        handoffs.Deliver();
        return true;
    }

    /// <summary>The generation of the UUID's registration held here, or 0 when none is.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <returns>The generation.</returns>
    public long GetGeneration(string uuid)
    {
        lock (_lock)
        {
            return _byUuid.TryGetValue(uuid, out var held) ? held.Generation : 0;
        }
    }

    /// <summary>Makes <paramref name="registration"/> its UUID's current one, superseding the one held before. Call under the lock.</summary>
    private void Install(Registration registration, ref Handoffs handoffs)
    {
        if (_byUuid.TryGetValue(registration.Uuid, out var previous))
        {
            _byInitiatorCookie.Remove(previous.InitiatorCookie);
        }

        _byUuid[registration.Uuid] = registration;
        _byInitiatorCookie[registration.InitiatorCookie] = registration;
        previous?.Close(ParkOutcome.Superseded, ref _parked, ref handoffs);
    }

    /// <summary>Finds the current <c>I</c> value of <paramref name="uuid"/>, the cookie a lookup hands out.</summary>
    /// <param name="uuid">The UUID to look up.</param>
    /// <param name="cookie">The current <c>I</c> value, when registered; it cannot park a connection.</param>
    /// <returns>Whether the UUID has a current registration.</returns>
    public bool TryGetInitiatorCookie(string uuid, out string cookie)
    {
        lock (_lock)
        {
            if (_byUuid.TryGetValue(uuid, out var registration))
            {
                cookie = registration.InitiatorCookie;
                return true;
            }
        }

        cookie = string.Empty;
        return false;
    }

    /// <summary>Whether <paramref name="uuid"/> holds a current cookie, and how many connections are parked under it.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <returns>Registered or not, and the parked count.</returns>
    internal (bool Registered, int Parked) GetState(string uuid)
    {
        lock (_lock)
        {
            return _byUuid.TryGetValue(uuid, out var registration) ? (true, registration.ParkedCount) : (false, 0);
        }
    }

    /// <summary>The UUID an <c>I</c> line with <paramref name="cookie"/> would be paired for.</summary>
    /// <param name="cookie">A cookie from an <c>I</c> line, without its mode letter.</param>
    /// <returns>The UUID, or <see langword="null"/> when the cookie is not current.</returns>
    internal string? FindInitiatorUuid(string cookie)
    {
        lock (_lock)
        {
            return _byInitiatorCookie.TryGetValue(cookie, out var registration) ? registration.Uuid : null;
        }
    }

    /// <summary>Whether <paramref name="cookie"/> is a current <c>R</c> value.</summary>
    /// <param name="cookie">An <c>R</c> value without its mode letter, as <see cref="Register"/> returned it.</param>
    /// <returns><see langword="true"/> when a UUID holds this <c>R</c> value now.</returns>
    public bool IsCurrent(string cookie)
    {
        ArgumentNullException.ThrowIfNull(cookie);
        var initiatorCookie = RendezvousCookies.InitiatorValueFor(cookie);
        lock (_lock)
        {
            return _byInitiatorCookie.ContainsKey(initiatorCookie);
        }
    }

    /// <summary>Forgets <paramref name="uuid"/>'s registration, closing its parked connections.</summary>
    /// <param name="uuid">The UUID.</param>
    /// <returns>Whether it was registered.</returns>
    public bool Unregister(string uuid)
    {
        var handoffs = default(Handoffs);
        lock (_lock)
        {
            if (!_byUuid.Remove(uuid, out var registration))
            {
                return false;
            }

            _byInitiatorCookie.Remove(registration.InitiatorCookie);
            registration.Close(ParkOutcome.Superseded, ref _parked, ref handoffs);
        }

        handoffs.Deliver();
        return true;
    }

    /// <summary>
    /// Parks a responder under the registration whose <c>R</c> value is <paramref name="cookie"/>, or pairs it
    /// at once with a waiting initiator. When the registration's pool is full the oldest parked connection is
    /// closed. An <c>I</c> value is not registered here, and displaces nothing.
    /// </summary>
    /// <param name="cookie">The cookie from the <c>R</c> line.</param>
    /// <param name="responder">The responder; its <see cref="ParkedResponder.Outcome"/> tells how the wait ends.</param>
    /// <returns>Parked, or not registered.</returns>
    public ParkStatus Park(string cookie, ParkedResponder responder)
    {
        ArgumentNullException.ThrowIfNull(cookie);
        ArgumentNullException.ThrowIfNull(responder);
        var initiatorCookie = RendezvousCookies.InitiatorValueFor(cookie);
        var handoffs = default(Handoffs);
        lock (_lock)
        {
            if (_closed || !_byInitiatorCookie.TryGetValue(initiatorCookie, out var registration))
            {
                return ParkStatus.NotRegistered;
            }

            responder.Uuid = registration.Uuid;
            if (!registration.TryHandToWaiter(responder, ref handoffs))
            {
                registration.Park(responder, Math.Max(1, _options.CurrentValue.ParkedConnectionsPerCookie), ref _parked, ref handoffs);
            }
        }

        handoffs.Deliver();
        return ParkStatus.Parked;
    }

    /// <summary>Removes a parked responder whose peer went away. It will never be paired.</summary>
    /// <param name="responder">The responder.</param>
    /// <returns><see langword="false"/> when it was no longer parked (already paired or closed).</returns>
    public bool Unpark(ParkedResponder responder)
    {
        ArgumentNullException.ThrowIfNull(responder);
        var handoffs = default(Handoffs);
        lock (_lock)
        {
            if (responder.Owner is not Registration registration)
            {
                return false;
            }

            registration.Remove(responder, ParkOutcome.PeerClosed, ref _parked, ref handoffs);
        }

        handoffs.Deliver();
        return true;
    }

    /// <summary>
    /// Pairs an initiator with a responder parked under the registration whose <c>I</c> value is
    /// <paramref name="cookie"/> (an <c>R</c> value is not registered here), waiting up to
    /// <see cref="RendezvousRelayOptions.InitiatorGracePeriod"/> for one to park.
    /// </summary>
    /// <param name="cookie">The cookie from the <c>I</c> line.</param>
    /// <param name="cancellationToken">Stops waiting (the initiator went away or the server stops).</param>
    /// <returns>The pairing, or why there is none.</returns>
    public async ValueTask<InitiateResult> InitiateAsync(string cookie, CancellationToken cancellationToken = default)
    {
        Waiter? waiter = null;
        var handoffs = default(Handoffs);
        InitiateResult? now;
        lock (_lock)
        {
            now = TryInitiateLocked(cookie, out var registration, ref handoffs);
            if (now is null)
            {
                waiter = registration!.AddWaiter();
            }
        }

        handoffs.Deliver();
        if (waiter is null)
        {
            return now!.Value;
        }

        var grace = _options.CurrentValue.InitiatorGracePeriod;
        if (grace > TimeSpan.Zero)
        {
            try
            {
                await waiter.Task.WaitAsync(grace, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                // No responder in time, or the initiator stopped waiting: taken out below, unless one was handed over meanwhile.
            }
        }

        handoffs = default;
        lock (_lock)
        {
            waiter.Registration.RemoveWaiter(waiter, ref handoffs);
        }

        handoffs.Deliver();
        return await waiter.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Pairs an initiator at once when a responder is parked under the <c>I</c> value <paramref name="cookie"/>, or tells
    /// at once why there will be no pairing; never waits.
    /// </summary>
    /// <returns>The answer, or <see langword="null"/> when the initiator would have to wait for a responder.</returns>
    internal InitiateResult? TryInitiate(string cookie)
    {
        var handoffs = default(Handoffs);
        InitiateResult? result;
        lock (_lock)
        {
            result = TryInitiateLocked(cookie, out _, ref handoffs);
        }

        handoffs.Deliver();
        return result;
    }

    /// <summary>
    /// Closes every parked connection and fails every waiting initiator (server shutdown). From then on
    /// nothing parks (<c>R</c> gets not registered) and initiators get not ready at once.
    /// </summary>
    public void CloseAll()
    {
        var handoffs = default(Handoffs);
        lock (_lock)
        {
            _closed = true;
            foreach (var registration in _byUuid.Values)
            {
                registration.Close(ParkOutcome.ShuttingDown, ref _parked, ref handoffs, keepCurrent: true);
            }
        }

        handoffs.Deliver();
    }

    /// <summary>What an initiator gets without waiting; <see langword="null"/> (with its registration) when it must wait. Call under the lock.</summary>
    private InitiateResult? TryInitiateLocked(string cookie, out Registration? registration, ref Handoffs handoffs)
    {
        if (!_byInitiatorCookie.TryGetValue(cookie, out registration))
        {
            return new InitiateResult(InitiateStatus.NotRegistered, null);
        }

        if (_closed)
        {
            return new InitiateResult(InitiateStatus.NotReady, null);
        }

        return registration.TryTakeParked(ref _parked, ref handoffs) is { } parked ? new InitiateResult(InitiateStatus.Paired, parked) : null;
    }

    /// <summary>
    /// The outcomes decided under the lock, to hand over once it is released (<see cref="Deliver"/>). Usually one; a
    /// registration's close decides one per parked connection and waiting initiator.
    /// </summary>
    private struct Handoffs
    {
        private ParkedResponder? _responder;
        private ParkOutcome _outcome;
        private Waiter? _waiter;
        private InitiateResult _result;
        private List<(ParkedResponder Responder, ParkOutcome Outcome)>? _moreResponders;
        private List<(Waiter Waiter, InitiateResult Result)>? _moreWaiters;

        public void Add(ParkedResponder responder, ParkOutcome outcome)
        {
            if (_responder is null)
            {
                (_responder, _outcome) = (responder, outcome);
            }
            else
            {
                (_moreResponders ??= []).Add((responder, outcome));
            }
        }

        public void Add(Waiter waiter, InitiateResult result)
        {
            if (_waiter is null)
            {
                (_waiter, _result) = (waiter, result);
            }
            else
            {
                (_moreWaiters ??= []).Add((waiter, result));
            }
        }

        /// <summary>Completes the waits, outside the lock: their continuations run on this thread.</summary>
        public readonly void Deliver()
        {
            // An initiator first: paired with a responder that parked just now, its session starts before the
            // responder's handler learns it was paired.
            _waiter?.Set(_result);
            foreach (var (waiter, result) in _moreWaiters ?? [])
            {
                waiter.Set(result);
            }

            _responder?.SetOutcome(_outcome);
            foreach (var (responder, outcome) in _moreResponders ?? [])
            {
                responder.SetOutcome(outcome);
            }
        }
    }

    private sealed class Waiter(Registration registration)
    {
        // Completed outside the broker's lock (Handoffs), so the waiting initiator may go on inline.
        private readonly TaskCompletionSource<InitiateResult> _result = new();

        public Registration Registration { get; } = registration;

        public LinkedListNode<Waiter>? Node { get; set; }

        public Task<InitiateResult> Task => _result.Task;

        public void Set(InitiateResult result) => _result.TrySetResult(result);
    }

    private sealed class Registration(string uuid, string initiatorCookie, long generation)
    {
        private readonly LinkedList<ParkedResponder> _parked = new();
        private readonly LinkedList<Waiter> _waiters = new();

        public string Uuid { get; } = uuid;

        public long Generation { get; } = generation;

        public string InitiatorCookie { get; } = initiatorCookie;

        public int ParkedCount => _parked.Count;

        public bool TryHandToWaiter(ParkedResponder responder, ref Handoffs handoffs)
        {
            var first = _waiters.First;
            if (first is null)
            {
                return false;
            }

            _waiters.RemoveFirst();
            first.Value.Node = null;
            handoffs.Add(first.Value, new InitiateResult(InitiateStatus.Paired, responder));
            handoffs.Add(responder, ParkOutcome.Paired);
            return true;
        }

        public void Park(ParkedResponder responder, int capacity, ref int parkedTotal, ref Handoffs handoffs)
        {
            while (_parked.Count >= capacity && _parked.First is { } oldest)
            {
                Remove(oldest.Value, ParkOutcome.PoolFull, ref parkedTotal, ref handoffs);
            }

            responder.Owner = this;
            responder.Node = _parked.AddLast(responder);
            Interlocked.Increment(ref parkedTotal);
        }

        public ParkedResponder? TryTakeParked(ref int parkedTotal, ref Handoffs handoffs)
        {
            // The most recently parked connection is the one most likely to be alive.
            if (_parked.Last is not { } newest)
            {
                return null;
            }

            var responder = newest.Value;
            Remove(responder, ParkOutcome.Paired, ref parkedTotal, ref handoffs);
            return responder;
        }

        /// <summary>Takes a parked responder out; its outcome is decided here, once (it is no longer anyone's after).</summary>
        public void Remove(ParkedResponder responder, ParkOutcome outcome, ref int parkedTotal, ref Handoffs handoffs)
        {
            if (responder.Node is { } node && ReferenceEquals(node.List, _parked))
            {
                _parked.Remove(node);
                Interlocked.Decrement(ref parkedTotal);
            }

            responder.Node = null;
            responder.Owner = null;
            handoffs.Add(responder, outcome);
        }

        public Waiter AddWaiter()
        {
            var waiter = new Waiter(this);
            waiter.Node = _waiters.AddLast(waiter);
            return waiter;
        }

        /// <summary>Takes a waiter out that is still waiting (not ready); one taken out already has its result handed over.</summary>
        public void RemoveWaiter(Waiter waiter, ref Handoffs handoffs)
        {
            if (waiter.Node is { } node && ReferenceEquals(node.List, _waiters))
            {
                _waiters.Remove(node);
                waiter.Node = null;
                handoffs.Add(waiter, new InitiateResult(InitiateStatus.NotReady, null));
            }
        }

        public void Close(ParkOutcome outcome, ref int parkedTotal, ref Handoffs handoffs, bool keepCurrent = false)
        {
            while (_parked.First is { } node)
            {
                Remove(node.Value, outcome, ref parkedTotal, ref handoffs);
            }

            while (_waiters.First is { } waiter)
            {
                _waiters.RemoveFirst();
                waiter.Value.Node = null;
                handoffs.Add(waiter.Value, new InitiateResult(keepCurrent ? InitiateStatus.NotReady : InitiateStatus.NotRegistered, null));
            }
        }
    }
}
