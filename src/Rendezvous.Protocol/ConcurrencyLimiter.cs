namespace Rendezvous.Protocol;

/// <summary>
/// Counts what is running now per key and refuses one more beyond a limit. Memory is bounded by what runs: a key is
/// forgotten when its count drops to zero. Thread-safe; <see cref="TryEnter"/> checks and counts in one step.
/// The relay counts handshakes per client address with it (<see cref="Transport.ClientAddressKey"/>); a server can
/// count its own connections per address the same way.
/// </summary>
/// <typeparam name="TKey">What is counted per (a client address, an address and a UUID).</typeparam>
public sealed class ConcurrencyLimiter<TKey>
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private readonly Dictionary<TKey, int> _running;

    /// <summary>Creates a limiter.</summary>
    /// <param name="comparer">Compares keys; the default comparer when <see langword="null"/>.</param>
    public ConcurrencyLimiter(IEqualityComparer<TKey>? comparer = null)
    {
        _running = new Dictionary<TKey, int>(comparer);
    }

    /// <summary>How many keys have something running now.</summary>
    public int KeyCount
    {
        get
        {
            lock (_lock)
            {
                return _running.Count;
            }
        }
    }

    /// <summary>Counts one more for <paramref name="key"/> unless it already has <paramref name="limit"/>.</summary>
    /// <param name="key">What to count for.</param>
    /// <param name="limit">How many may run at once for <paramref name="key"/>.</param>
    /// <returns>Whether it may go on; when it may, <see cref="Exit"/> must follow.</returns>
    public bool TryEnter(TKey key, int limit)
    {
        lock (_lock)
        {
            _running.TryGetValue(key, out var count);
            if (count >= limit)
            {
                return false;
            }

            _running[key] = count + 1;
            return true;
        }
    }

    /// <summary>Ends one counted by <see cref="TryEnter"/>.</summary>
    /// <param name="key">The key given to <see cref="TryEnter"/>.</param>
    public void Exit(TKey key)
    {
        lock (_lock)
        {
            if (_running.TryGetValue(key, out var count))
            {
                if (count <= 1)
                {
                    _running.Remove(key);
                }
                else
                {
                    _running[key] = count - 1;
                }
            }
        }
    }
}
