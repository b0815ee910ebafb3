using System.Net;
using System.Net.Sockets;

namespace Rendezvous.Security.Internal;

/// <summary>
/// Counts failures per key in fixed windows that start at a key's first failure; a key with
/// <c>limit</c> failures in its window is throttled until the window ends. Memory is bounded:
/// at most <c>maxKeys</c> keys are tracked, and when full the expired and then the oldest are forgotten.
/// Thread-safe.
/// </summary>
internal sealed class FailureThrottle
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
    public static string? AddressKey(IPAddress? address)
    {
        if (address is null)
        {
            return null;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes).ToString() + "/64";
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

            TimeSpan left = end - now;
            retryAfter = left < MinimumRetryAfter ? MinimumRetryAfter : left;
            return true;
        }
    }

    /// <summary>Counts one failure for <paramref name="key"/>.</summary>
    public void RecordFailure(string key)
    {
        DateTimeOffset now = _timeProvider.GetUtcNow();
        lock (_lock)
        {
            if (_buckets.TryGetValue(key, out LinkedListNode<Bucket>? node))
            {
                if (now < node.Value.WindowStart + _window)
                {
                    node.Value.Failures++;
                    return;
                }

                Remove(node);
            }

            EvictExpired(now);
            while (_buckets.Count >= _maxKeys)
            {
                Remove(_order.First!);
            }

            var added = _order.AddLast(new Bucket(key, now));
            _buckets.Add(key, added);
        }
    }

    /// <summary>Forgets <paramref name="key"/>'s failures.</summary>
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

    private sealed class Bucket(string key, DateTimeOffset windowStart)
    {
        public string Key { get; } = key;

        public DateTimeOffset WindowStart { get; } = windowStart;

        public int Failures { get; set; } = 1;
    }
}
