namespace Rendezvous.Redis;

/// <summary>
/// Bounds what handshakes with cookies this node does not hold cost Redis: a cookie found to be unknown (or not
/// parking here) is remembered for <see cref="MissLifetime"/> (at most <see cref="MaxMisses"/> of them, the oldest
/// forgotten first), and at most <see cref="LookupsPerSecond"/> lookups a second go to Redis at all. A flood of random
/// cookies therefore costs a bounded number of commands a second and a bounded amount of memory; a genuine adoption
/// that loses the race is refused as <c>not registered</c> and the hidden server's next attempt succeeds.
/// </summary>
internal sealed class AdoptionGuard(TimeProvider time)
{
    /// <summary>The most unknown cookies remembered.</summary>
    public const int MaxMisses = 10_000;

    /// <summary>How long an unknown cookie is remembered.</summary>
    public static readonly TimeSpan MissLifetime = TimeSpan.FromSeconds(5);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _misses = new(StringComparer.Ordinal);
    private readonly Queue<(string Cookie, long Expires)> _order = new();
    private long _windowStart = long.MinValue;
    private int _windowCount;
    private bool _limitReported;

    /// <summary>How many lookups a second may go to Redis (tests lower it).</summary>
    public int LookupsPerSecond { get; init; } = 2_000;

    /// <summary>How many unknown cookies are remembered now.</summary>
    public int MissCount
    {
        get
        {
            lock (_lock)
            {
                return _misses.Count;
            }
        }
    }

    /// <summary>Whether a lookup of <paramref name="initiatorCookie"/> may go to Redis now; counts it when so.</summary>
    /// <param name="initiatorCookie">The <c>I</c> value.</param>
    /// <param name="limitReached">Set when the refusal is the first one of a second for the rate limit (to log it once).</param>
    public bool TryBegin(string initiatorCookie, out bool limitReached)
    {
        limitReached = false;
        var now = time.GetTimestamp();
        lock (_lock)
        {
            if (_misses.TryGetValue(initiatorCookie, out var expires) && expires > now)
            {
                return false;
            }

            if (time.GetElapsedTime(_windowStart == long.MinValue ? now - time.TimestampFrequency : _windowStart, now) >= TimeSpan.FromSeconds(1))
            {
                _windowStart = now;
                _windowCount = 0;
                _limitReported = false;
            }

            if (_windowCount >= LookupsPerSecond)
            {
                limitReached = !_limitReported;
                _limitReported = true;
                return false;
            }

            _windowCount++;
            return true;
        }
    }

    /// <summary>Remembers that <paramref name="initiatorCookie"/> is not one this node can adopt.</summary>
    /// <param name="initiatorCookie">The <c>I</c> value.</param>
    public void Miss(string initiatorCookie)
    {
        var now = time.GetTimestamp();
        var expires = now + (long)(MissLifetime.TotalSeconds * time.TimestampFrequency);
        lock (_lock)
        {
            while (_order.TryPeek(out var oldest) && (oldest.Expires <= now || _misses.Count >= MaxMisses))
            {
                _order.Dequeue();
                if (_misses.TryGetValue(oldest.Cookie, out var current) && current == oldest.Expires)
                {
                    _misses.Remove(oldest.Cookie);
                }
            }

            _misses[initiatorCookie] = expires;
            _order.Enqueue((initiatorCookie, expires));
        }
    }
}
