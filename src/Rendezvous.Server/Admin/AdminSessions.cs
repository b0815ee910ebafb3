using System.Security.Cryptography;
using System.Text;

namespace Rendezvous.Server.Admin;

/// <summary>
/// Signed-in admin sessions, kept in memory (a restart signs everyone out). A session is a 256-bit random id in an
/// HttpOnly cookie; only its SHA-256 is kept. Memory is bounded: at most <see cref="MaxSessions"/>, the oldest
/// dropped first. Thread-safe.
/// </summary>
internal sealed class AdminSessions(TimeProvider time, TimeSpan lifetime)
{
    /// <summary>How many sessions are kept at most.</summary>
    public const int MaxSessions = 1000;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, DateTimeOffset> _expiries = new(StringComparer.Ordinal);
    private Queue<string> _order = new();

    /// <summary>How long a session lasts.</summary>
    public TimeSpan Lifetime { get; } = lifetime;

    /// <summary>Starts a session and returns its id, for the cookie.</summary>
    public string Start()
    {
        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        var key = Key(id);
        lock (_lock)
        {
            while (_expiries.Count >= MaxSessions && _order.TryDequeue(out var oldest))
            {
                _expiries.Remove(oldest);
            }

            if (_order.Count >= 2 * MaxSessions)
            {
                // Ended sessions leave their key in the queue; drop those so it stays bounded too.
                _order = new Queue<string>(_order.Where(_expiries.ContainsKey));
            }

            _expiries[key] = time.GetUtcNow() + Lifetime;
            _order.Enqueue(key);
        }

        return id;
    }

    /// <summary>Whether <paramref name="id"/> names a session that has not ended or expired.</summary>
    public bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 128)
        {
            return false;
        }

        var key = Key(id);
        lock (_lock)
        {
            if (!_expiries.TryGetValue(key, out var expires))
            {
                return false;
            }

            if (time.GetUtcNow() < expires)
            {
                return true;
            }

            _expiries.Remove(key);
            return false;
        }
    }

    /// <summary>Ends a session (sign out).</summary>
    public void End(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 128)
        {
            return;
        }

        lock (_lock)
        {
            _expiries.Remove(Key(id));
        }
    }

    private static string Key(string id) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
}
