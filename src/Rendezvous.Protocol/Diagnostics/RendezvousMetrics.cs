using System.Diagnostics.Metrics;

namespace Rendezvous.Protocol.Diagnostics;

/// <summary>The protocol's counters, in the meter <c>Rendezvous.Protocol</c>.</summary>
public sealed class RendezvousMetrics : IDisposable
{
    /// <summary>The meter name, for listeners and exporters.</summary>
    public const string MeterName = "Rendezvous.Protocol";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _registrations;
    private readonly Counter<long> _lookups;
    private readonly UpDownCounter<long> _parked;
    private readonly UpDownCounter<long> _activeSessions;
    private readonly Counter<long> _sessions;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _handshakeFailures;
    private readonly Histogram<int> _poolAdvice;

    /// <summary>Creates the counters through <paramref name="meterFactory"/>, or a meter of its own when none is given.</summary>
    /// <param name="meterFactory">The host's meter factory, when there is one.</param>
    public RendezvousMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _ownsMeter = meterFactory is null;
        _registrations = _meter.CreateCounter<long>("rendezvous.registrations", "{registration}", "Registration attempts at the registrar, by outcome.");
        _lookups = _meter.CreateCounter<long>("rendezvous.lookups", "{lookup}", "Lookups at the registrar, by outcome.");
        _parked = _meter.CreateUpDownCounter<long>("rendezvous.parked", "{connection}", "Hidden-server connections parked now.");
        _activeSessions = _meter.CreateUpDownCounter<long>("rendezvous.sessions.active", "{session}", "Spliced sessions running now.");
        _sessions = _meter.CreateCounter<long>("rendezvous.sessions", "{session}", "Spliced sessions that ended, by how they ended.");
        _bytes = _meter.CreateCounter<long>("rendezvous.bytes_relayed", "By", "Bytes relayed between paired connections, both directions.");
        _handshakeFailures = _meter.CreateCounter<long>("rendezvous.handshake.failures", "{connection}", "Rendezvous connections refused, by reason.");
        _poolAdvice = _meter.CreateHistogram<int>(
            "rendezvous.pool.advice",
            "{connection}",
            "Pool sizes advised to hidden servers in registration answers.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64] });
    }

    /// <summary>Counts a registration attempt.</summary>
    /// <param name="outcome">accepted, rejected or throttled.</param>
    public void Registration(string outcome) => _registrations.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Counts a lookup.</summary>
    /// <param name="outcome">found or not_registered.</param>
    public void Lookup(string outcome) => _lookups.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>A connection was parked (+1) or left the park (-1).</summary>
    /// <param name="delta">+1 or -1.</param>
    public void Parked(int delta) => _parked.Add(delta);

    /// <summary>A session started.</summary>
    public void SessionStarted() => _activeSessions.Add(1);

    /// <summary>A session ended.</summary>
    /// <param name="end">How it ended: completed, truncated, initiator_failed, responder_failed, canceled or failed.</param>
    public void SessionEnded(string end)
    {
        _activeSessions.Add(-1);
        _sessions.Add(1, new KeyValuePair<string, object?>("end", end));
    }

    /// <summary>Counts relayed bytes.</summary>
    /// <param name="bytes">How many.</param>
    public void BytesRelayed(long bytes) => _bytes.Add(bytes);

    /// <summary>Counts a refused rendezvous connection.</summary>
    /// <param name="reason">not_registered, not_ready, invalid_cookie, line_too_long, timeout, too_many_connections, too_many_handshakes or too_many_sessions.</param>
    public void HandshakeFailed(string reason) => _handshakeFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Counts a pool size advised in a registration answer.</summary>
    /// <param name="connections">The advice.</param>
    public void PoolAdvised(int connections) => _poolAdvice.Record(connections);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
