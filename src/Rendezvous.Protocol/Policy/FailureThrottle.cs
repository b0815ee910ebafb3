using System.Net;
using System.Net.Sockets;
using Rendezvous.Protocol.Transport;

namespace Rendezvous.Protocol.Policy;

/// <summary>
/// Counts failures per key in fixed windows that start at a key's first failure; a key with
/// <c>limit</c> failures in its window is throttled until the window ends. Memory is bounded:
/// at most <c>maxKeys</c> keys are tracked, and when full the expired and then the oldest are forgotten.
/// Thread-safe. <see cref="TryReserve"/> checks and counts in one step, so however many attempts run at once, at
/// most <c>limit</c> of them pass in a window: an attempt that turns out not to be a failure gives its slot back
/// with <see cref="Release"/>. Used by the TOTP policy (failed codes per UUID and per address) and by the admin page
/// (failed sign-ins per address); a custom <see cref="IRegistrationPolicy"/> can use it the same way. As an
/// <see cref="IFailureCounter"/> it is the in-process counter, which <see cref="MemoryFailureCounterFactory"/> creates.
/// </summary>
public sealed class FailureThrottle : IFailureCounter
{
    private static readonly TimeSpan MinimumRetryAfter = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _timeProvider;
    private readonly int _limit;
    private readonly TimeSpan _window;
    private readonly int _maxKeys;
    private readonly Dictionary<string, LinkedListNode<Bucket>> _buckets = new(StringComparer.Ordinal);

    // Buckets in order of window start; all windows have the same length, so the head expires first.
    private readonly LinkedList<Bucket> _order = new();
    private readonly Lock _lock = new();

    /// <summary>Creates a throttle.</summary>
    /// <param name="timeProvider">The clock windows are measured by.</param>
    /// <param name="limit">Failures in one window after which a key is throttled; at least 1.</param>
    /// <param name="window">How long failures are counted from a key's first one; positive.</param>
    /// <param name="maxKeys">How many keys are tracked at most; at least 1.</param>
    /// <exception cref="ArgumentNullException"><paramref name="timeProvider"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A number is out of range.</exception>
    public FailureThrottle(TimeProvider timeProvider, int limit, TimeSpan window, int maxKeys)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        _timeProvider = timeProvider;
        _limit = limit;
        _window = window;
        _maxKeys = maxKeys;
    }

    /// <summary>
    /// The throttling key of a remote address: IPv4-mapped addresses count as IPv4; IPv6 addresses count per /64,
    /// the smallest block a site usually gets. <see langword="null"/> when the address is unknown.
    /// </summary>
    /// <param name="address">The remote address.</param>
    /// <returns>The key, or <see langword="null"/>.</returns>
    public static string? AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return null;
        }

        var key = ClientAddressKey.Of(address);
        return key.AddressFamily == AddressFamily.InterNetworkV6 ? key + "/64" : key.ToString();
    }

    /// <summary>How many keys are tracked now.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _buckets.Count;
            }
        }
    }

    /// <summary>Whether <paramref name="key"/> is throttled, and for how long (at least one second).</summary>
    /// <param name="key">The key.</param>
    /// <param name="retryAfter">How long the key stays throttled; zero when it is not.</param>
    /// <returns>Whether the key is throttled.</returns>
    public bool IsThrottled(string key, out TimeSpan retryAfter)
    {
        DateTimeOffset now = _timeProvider.GetUtcNow();
        lock (_lock)
        {
            retryAfter = TimeSpan.Zero;
            if (!_buckets.TryGetValue(key, out LinkedListNode<Bucket>? node))
            {
                return false;
            }

            Bucket bucket = node.Value;
            DateTimeOffset end = bucket.WindowStart + _window;
            if (now >= end)
            {
                Remove(node);
                return false;
            }

            if (bucket.Failures < _limit)
            {
                return false;
            }

            retryAfter = RetryAfter(bucket, now);
            return true;
        }
    }

    /// <summary>Counts one failure for <paramref name="key"/>.</summary>
    /// <param name="key">The key.</param>
    public void RecordFailure(string key)
    {
        DateTimeOffset now = _timeProvider.GetUtcNow();
        lock (_lock)
        {
            CurrentBucket(key, now).Value.Failures++;
        }
    }

    /// <summary>
    /// Counts one failure for <paramref name="key"/> in advance, unless the key is throttled: then nothing is
    /// counted and <paramref name="retryAfter"/> says for how long (at least one second). Checking and counting are
    /// one step, so concurrent attempts cannot all pass the check before any of them is counted.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="reservation">The counted failure, to give back with <see cref="Release"/> if the attempt succeeds.</param>
    /// <param name="retryAfter">How long the key stays throttled when the answer is <see langword="false"/>.</param>
    /// <returns>Whether the attempt may go on.</returns>
    public bool TryReserve(string key, out Reservation reservation, out TimeSpan retryAfter)
    {
        DateTimeOffset now = _timeProvider.GetUtcNow();
        lock (_lock)
        {
            if (_buckets.TryGetValue(key, out LinkedListNode<Bucket>? existing)
                && now < existing.Value.WindowStart + _window
                && existing.Value.Failures >= _limit)
            {
                reservation = default;
                retryAfter = RetryAfter(existing.Value, now);
                return false;
            }

            LinkedListNode<Bucket> node = CurrentBucket(key, now);
            node.Value.Failures++;
            reservation = new Reservation(node);
            retryAfter = TimeSpan.Zero;
            return true;
        }
    }

    /// <summary>
    /// Gives back a failure counted by <see cref="TryReserve"/> (the attempt was not a failure); a key left with no
    /// failures is forgotten. Does nothing for a default reservation, or once the reservation's window has been
    /// forgotten (a later window is never touched).
    /// </summary>
    /// <param name="reservation">What <see cref="TryReserve"/> counted.</param>
    public void Release(Reservation reservation)
    {
        if (reservation.Node is not { } node)
        {
            return;
        }

        lock (_lock)
        {
            if (node.Value.Failures > 0)
            {
                node.Value.Failures--;
            }

            if (node.Value.Failures == 0 && node.List is not null)
            {
                Remove(node);
            }
        }
    }

    /// <inheritdoc/>
    ValueTask<FailureSlot> IFailureCounter.TryReserveAsync(string key, CancellationToken cancellationToken)
        => ValueTask.FromResult(TryReserve(key, out Reservation reservation, out TimeSpan retryAfter)
            ? new FailureSlot(key, IsReserved: true, TimeSpan.Zero, reservation.Node!.Value.WindowStart.UtcTicks)
            : new FailureSlot(key, IsReserved: false, retryAfter, Window: 0));

    /// <inheritdoc/>
    ValueTask IFailureCounter.ReleaseAsync(FailureSlot slot, CancellationToken cancellationToken)
    {
        if (slot.IsReserved)
        {
            lock (_lock)
            {
                if (_buckets.TryGetValue(slot.Key, out LinkedListNode<Bucket>? node) && node.Value.WindowStart.UtcTicks == slot.Window)
                {
                    Release(new Reservation(node));
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    ValueTask IFailureCounter.RecordFailureAsync(string key, CancellationToken cancellationToken)
    {
        RecordFailure(key);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    ValueTask IFailureCounter.ClearAsync(string key, CancellationToken cancellationToken)
    {
        Clear(key);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    ValueTask<TimeSpan> IFailureCounter.GetRetryAfterAsync(string key, CancellationToken cancellationToken)
        => ValueTask.FromResult(IsThrottled(key, out TimeSpan retryAfter) ? retryAfter : TimeSpan.Zero);

    /// <summary>Forgets <paramref name="key"/>'s failures.</summary>
    /// <param name="key">The key.</param>
    public void Clear(string key)
    {
        lock (_lock)
        {
            if (_buckets.TryGetValue(key, out LinkedListNode<Bucket>? node))
            {
                Remove(node);
            }
        }
    }

    // The bucket of the key's current window, added (with no failures yet) when there is none. Under _lock.
    private LinkedListNode<Bucket> CurrentBucket(string key, DateTimeOffset now)
    {
        if (_buckets.TryGetValue(key, out LinkedListNode<Bucket>? node))
        {
            if (now < node.Value.WindowStart + _window)
            {
                return node;
            }

            Remove(node);
        }

        EvictExpired(now);
        while (_buckets.Count >= _maxKeys)
        {
            Remove(_order.First!);
        }

        LinkedListNode<Bucket> added = _order.AddLast(new Bucket(key, now));
        _buckets.Add(key, added);
        return added;
    }

    private TimeSpan RetryAfter(Bucket bucket, DateTimeOffset now)
    {
        TimeSpan left = bucket.WindowStart + _window - now;
        return left < MinimumRetryAfter ? MinimumRetryAfter : left;
    }

    private void EvictExpired(DateTimeOffset now)
    {
        while (_order.First is { } first && now >= first.Value.WindowStart + _window)
        {
            Remove(first);
        }
    }

    private void Remove(LinkedListNode<Bucket> node)
    {
        _order.Remove(node);
        _buckets.Remove(node.Value.Key);
    }

    internal sealed class Bucket(string key, DateTimeOffset windowStart)
    {
        public string Key { get; } = key;

        public DateTimeOffset WindowStart { get; } = windowStart;

        public int Failures { get; set; }
    }

    /// <summary>A failure counted in advance by <see cref="TryReserve"/>; the default one holds nothing.</summary>
    public readonly struct Reservation : IEquatable<Reservation>
    {
        internal Reservation(LinkedListNode<Bucket> node) => Node = node;

        internal LinkedListNode<Bucket>? Node { get; }

        /// <summary>Whether both reservations hold the same counted failure.</summary>
        /// <param name="left">One reservation.</param>
        /// <param name="right">The other.</param>
        /// <returns>Whether they are the same.</returns>
        public static bool operator ==(Reservation left, Reservation right) => left.Equals(right);

        /// <summary>Whether the reservations hold different counted failures.</summary>
        /// <param name="left">One reservation.</param>
        /// <param name="right">The other.</param>
        /// <returns>Whether they differ.</returns>
        public static bool operator !=(Reservation left, Reservation right) => !left.Equals(right);

        /// <inheritdoc/>
        public bool Equals(Reservation other) => ReferenceEquals(Node, other.Node);

        /// <inheritdoc/>
        public override bool Equals(object? obj) => obj is Reservation other && Equals(other);

        /// <inheritdoc/>
        public override int GetHashCode() => Node?.GetHashCode() ?? 0;
    }
}
