using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Registrar;
using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>
/// The registration directory shared by the nodes of a cluster, in Redis (key layout in <see cref="DirectoryScripts"/>).
/// A registration names an owner node and up to <see cref="RedisClusterOptions.Alternates"/> alternates among the live
/// nodes; the nodes it names adopt it into their broker (at once when they issued it, else when its hidden server's
/// <c>R</c> line or a client's <c>I</c> line arrives); every node supersedes its older registrations when told of a newer
/// one on the events channel. Redis never sees an <c>R</c> value. When Redis cannot be reached, registrations and lookups
/// throw <see cref="RegistrationDirectoryUnavailableException"/> within <see cref="RedisConnection.CommandTimeout"/>, and
/// what the broker holds keeps parking and pairing.
/// </summary>
internal sealed class RedisRegistrationDirectory : IRegistrationDirectory
{
    /// <summary>The most nodes one heartbeat reads back (the cluster's size limit for placement).</summary>
    public const int MaxNodes = 64;

    /// <summary>How many registrations one renewal batch renews (one pipelined round trip).</summary>
    public const int RenewalBatch = 256;

    /// <summary>How long a generation announced on the events channel is remembered against a racing adoption.</summary>
    private static readonly TimeSpan AnnouncedLifetime = TimeSpan.FromSeconds(30);

    /// <summary>The most announced generations remembered.</summary>
    private const int MaxAnnounced = 100_000;

    private readonly RedisConnection _redis;
    private readonly RendezvousBroker _broker;
    private readonly RedisClusterOptions _options;
    private readonly IOptionsMonitor<RegistrarOptions> _registrar;
    private readonly RendezvousEndpoint _endpoint;
    private readonly PoolAdvisor? _advisor;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _prefix;
    private readonly RedisChannel _channel;
    private readonly ConcurrentDictionary<string, Held> _held = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, (long Generation, long At)> _announced = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, int> _assigned = new(StringComparer.Ordinal);
    private volatile ClusterNode[] _live = [];
    private ClusterNode? _self;
    private int _unavailable;

    public RedisRegistrationDirectory(
        RedisConnection redis,
        RendezvousBroker broker,
        IOptionsMonitor<RegistrarOptions> registrar,
        RendezvousEndpoint endpoint,
        TimeProvider time,
        ILogger<RedisRegistrationDirectory>? logger = null,
        PoolAdvisor? advisor = null)
    {
        _redis = redis;
        _advisor = advisor;
        _broker = broker;
        _options = redis.Options;
        _registrar = registrar;
        _endpoint = endpoint;
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _prefix = _options.KeyPrefix;
        _channel = RedisChannel.Literal(_prefix + "events");
        Adoptions = new AdoptionGuard(time);
    }

    /// <summary>The bounds on adoption lookups.</summary>
    public AdoptionGuard Adoptions { get; init; }

    /// <summary>The live nodes as of the last heartbeat.</summary>
    public IReadOnlyList<ClusterNode> LiveNodes => _live;

    /// <summary>The newest generation of <paramref name="uuid"/> announced on the events channel lately, or 0.</summary>
    public long AnnouncedGeneration(string uuid) => _announced.TryGetValue(uuid, out var announced) ? announced.Generation : 0;

    /// <summary>How many registrations this node holds and renews.</summary>
    public int HeldCount => _held.Count;

    /// <summary>
    /// This node: its id (<see cref="RedisClusterOptions.NodeId"/>, else <c>host:port</c>) and its public relay endpoint
    /// (<see cref="RegistrarOptions.PublicHost"/> and <see cref="RegistrarOptions.PublicPort"/>, else the bound port).
    /// </summary>
    /// <exception cref="InvalidOperationException">The relay is not listening yet.</exception>
    public ClusterNode Self
    {
        get
        {
            if (Volatile.Read(ref _self) is { } self)
            {
                return self;
            }

            var registrar = _registrar.CurrentValue;
            var port = registrar.PublicPort ?? _endpoint.Port;
            if (port == 0 || string.IsNullOrWhiteSpace(registrar.PublicHost))
            {
                throw new InvalidOperationException("The cluster node has no public relay endpoint yet (the relay is not listening, or Rendezvous:Registrar:PublicHost is unset).");
            }

            var address = new RelayAddress(registrar.PublicHost, port);
            self = new ClusterNode(_options.NodeId ?? string.Create(CultureInfo.InvariantCulture, $"{address.Host}:{address.Port}"), address, 0);
            Volatile.Write(ref _self, self);
            return self;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<DirectoryEntry> RegisterAsync(string uuid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        var responder = RendezvousCookies.NewResponderValue();
        var initiator = RendezvousCookies.InitiatorValueFor(responder);
        var (owner, alternates) = Place(uuid);
        var result = await CallAsync(
            db => db.ScriptEvaluateAsync(
                DirectoryScripts.Register,
                [_prefix + "reg:" + uuid, _prefix + "ini:" + initiator],
                [uuid, initiator, owner.Id, string.Join(' ', alternates.Select(a => a.Id)), LifetimeMilliseconds, _channel.ToString(), _prefix]),
            cancellationToken).ConfigureAwait(false);
        var generation = long.Parse((string)result!, NumberStyles.None, CultureInfo.InvariantCulture);
        var self = Self;
        if (owner.Id == self.Id || alternates.Any(a => a.Id == self.Id))
        {
            Install(uuid, initiator, generation);
        }

        // Pool advice from the demand this node measured for the UUID: with the default placement a hidden server parks at
        // the node it registers through, and our agent keeps registering through the registrar that answered, so that
        // is the node that saw its initiators.
        return new DirectoryEntry(responder, owner.Address, [.. alternates.Select(a => a.Address)], _advisor?.Advise(uuid));
    }

    /// <inheritdoc/>
    public async ValueTask<DirectoryEntry?> LookupAsync(string uuid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        var result = await CallAsync(db => db.ScriptEvaluateAsync(DirectoryScripts.Lookup, [_prefix + "reg:" + uuid], [_prefix]), cancellationToken).ConfigureAwait(false);
        if (result.IsNull || (RedisValue[]?)result is not { Length: >= 3 } values)
        {
            return null;
        }

        var relays = new RelayAddress[(values.Length - 1) / 2];
        for (var i = 0; i < relays.Length; i++)
        {
            relays[i] = new RelayAddress((string)values[1 + (2 * i)]!, (int)values[2 + (2 * i)]);
        }

        return new DirectoryEntry((string)values[0]!, relays[0], relays[1..]);
    }

    /// <inheritdoc/>
    public async ValueTask<bool> UnregisterAsync(string uuid, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(uuid);
        var result = await CallAsync(
            db => db.ScriptEvaluateAsync(DirectoryScripts.Unregister, [_prefix + "reg:" + uuid], [uuid, _channel.ToString(), _prefix]),
            cancellationToken).ConfigureAwait(false);
        if (result.IsNull)
        {
            return _broker.Unregister(uuid);
        }

        OnAnnounced(uuid, long.Parse((string)result!, NumberStyles.None, CultureInfo.InvariantCulture));
        return true;
    }

    /// <inheritdoc/>
    public async ValueTask<bool> TryAdoptAsync(string initiatorCookie, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(initiatorCookie);
        if (!Adoptions.TryBegin(initiatorCookie, out var limitReached))
        {
            if (limitReached)
            {
                RedisLog.AdoptionRateLimited(_logger, Adoptions.LookupsPerSecond);
            }

            return false;
        }

        RedisResult result;
        try
        {
            result = await CallAsync(
                db => db.ScriptEvaluateAsync(DirectoryScripts.Find, [_prefix + "ini:" + initiatorCookie], [initiatorCookie, _prefix]),
                cancellationToken).ConfigureAwait(false);
        }
        catch (RegistrationDirectoryUnavailableException)
        {
            return false;
        }

        var self = Self.Id;
        if (result.IsNull || (RedisValue[]?)result is not { Length: 4 } values
            || (values[2] != self && !((string)values[3]!).Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(self, StringComparer.Ordinal)))
        {
            Adoptions.Miss(initiatorCookie);
            return false;
        }

        var uuid = (string)values[0]!;
        var generation = long.Parse((string)values[1]!, NumberStyles.None, CultureInfo.InvariantCulture);
        return Install(uuid, initiatorCookie, generation);
    }

    /// <summary>Writes this node's record and reads the live nodes back.</summary>
    /// <returns>Whether Redis answered.</returns>
    public async Task<bool> HeartbeatAsync(CancellationToken cancellationToken)
    {
        var self = Self;
        RedisResult result;
        try
        {
            result = await CallAsync(
                db => db.ScriptEvaluateAsync(
                    DirectoryScripts.Heartbeat,
                    [_prefix + "node:" + self.Id, _prefix + "nodes"],
                    [self.Id, self.Address.Host, self.Address.Port, _broker.ParkedCount, _broker.RegistrationCount, (long)_options.NodeTimeout.TotalMilliseconds, _prefix, MaxNodes]),
                cancellationToken).ConfigureAwait(false);
        }
        catch (RegistrationDirectoryUnavailableException)
        {
            return false;
        }

        var values = (RedisValue[]?)result ?? [];
        var live = new ClusterNode[values.Length / 4];
        for (var i = 0; i < live.Length; i++)
        {
            live[i] = new ClusterNode(
                (string)values[4 * i]!,
                new RelayAddress((string)values[(4 * i) + 1]!, (int)values[(4 * i) + 2]),
                (long)values[(4 * i) + 3]);
        }

        var before = _live;
        _live = live;
        _assigned.Clear();
        if (!before.Select(n => n.Id).Order(StringComparer.Ordinal).SequenceEqual(live.Select(n => n.Id).Order(StringComparer.Ordinal), StringComparer.Ordinal))
        {
            RedisLog.LiveNodesChanged(_logger, live.Length, string.Join(", ", live.Select(n => n.Id)));
        }

        PruneAnnounced();
        return true;
    }

    /// <summary>Removes this node's record (a graceful stop), so lookups stop naming it at once.</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken)
    {
        var self = Self;
        await CallAsync(
            db => db.ScriptEvaluateAsync(DirectoryScripts.Leave, [_prefix + "node:" + self.Id, _prefix + "nodes"], [self.Id]),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Subscribes to the events channel (StackExchange.Redis restores the subscription after a reconnect).</summary>
    public async Task SubscribeAsync(CancellationToken cancellationToken)
    {
        var multiplexer = await _redis.GetAsync().WaitAsync(RedisConnection.CommandTimeout, _time, cancellationToken).ConfigureAwait(false);
        await multiplexer.GetSubscriber().SubscribeAsync(_channel, (_, message) => OnEvent(message))
            .WaitAsync(RedisConnection.CommandTimeout, _time, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Renews the entries of the registrations this node holds, in batches, and supersedes here those Redis says are
    /// newer or gone (an event missed while Redis was unreachable).
    /// </summary>
    /// <returns>Whether every batch was answered.</returns>
    public async Task<bool> RenewAsync(CancellationToken cancellationToken)
    {
        var snapshot = _held.ToArray();
        for (var start = 0; start < snapshot.Length; start += RenewalBatch)
        {
            var batch = new List<(string Uuid, Held Held)>(RenewalBatch);
            foreach (var (uuid, held) in snapshot.AsSpan(start, Math.Min(RenewalBatch, snapshot.Length - start)))
            {
                if (_broker.GetGeneration(uuid) == held.Generation)
                {
                    batch.Add((uuid, held));
                }
                else
                {
                    _held.TryRemove(new KeyValuePair<string, Held>(uuid, held));
                }
            }

            RedisResult[] results;
            try
            {
                results = await CallAsync(
                    async db =>
                    {
                        var pipeline = db.CreateBatch();
                        var calls = batch.Select(b => pipeline.ScriptEvaluateAsync(
                            DirectoryScripts.Renew,
                            [_prefix + "reg:" + b.Uuid, _prefix + "ini:" + b.Held.InitiatorCookie],
                            [b.Held.InitiatorCookie, LifetimeMilliseconds])).ToArray();
                        pipeline.Execute();
                        return await Task.WhenAll(calls).ConfigureAwait(false);
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (RegistrationDirectoryUnavailableException)
            {
                return false;
            }

            for (var i = 0; i < batch.Count; i++)
            {
                var (uuid, held) = batch[i];
                var current = results[i].IsNull ? held.Generation + 1 : long.Parse((string)results[i]!, NumberStyles.None, CultureInfo.InvariantCulture);
                if (current != held.Generation)
                {
                    OnAnnounced(uuid, Math.Max(current, held.Generation + 1));
                }
            }
        }

        return true;
    }

    /// <summary>Chooses the owner and the alternates of a registration among the live nodes.</summary>
    private (ClusterNode Owner, ClusterNode[] Alternates) Place(string uuid)
    {
        var self = Self;
        var others = _live.Where(n => n.Id != self.Id).ToList();
        ClusterNode owner = self;
        if (_options.Placement == RedisPlacement.LeastLoaded)
        {
            var selfLoad = _live.FirstOrDefault(n => n.Id == self.Id)?.Load ?? _broker.ParkedCount;
            owner = others.Append(self with { Load = selfLoad })
                .OrderBy(n => n.Load + _assigned.GetValueOrDefault(n.Id))
                .ThenByDescending(n => Score(uuid, n.Id))
                .First();
            _assigned.AddOrUpdate(owner.Id, 1, (_, count) => count + 1);
            others = [.. others.Where(n => n.Id != owner.Id)];
            if (owner.Id != self.Id)
            {
                others.Add(self);
            }
        }

        var alternates = others.OrderByDescending(n => Score(uuid, n.Id)).Take(_options.Alternates).ToArray();
        return (owner, alternates);
    }

    /// <summary>Rendezvous hashing (FNV-1a over UUID and node id): spreads alternates evenly and stably over the nodes.</summary>
    private static ulong Score(string uuid, string node)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in uuid)
        {
            hash = (hash ^ char.ToLowerInvariant(c)) * 1099511628211UL;
        }

        hash = (hash ^ '\n') * 1099511628211UL;
        foreach (var c in node)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>Makes the registration current in the broker unless a newer one was announced meanwhile.</summary>
    private bool Install(string uuid, string initiatorCookie, long generation)
    {
        if (_announced.TryGetValue(uuid, out var announced) && announced.Generation > generation)
        {
            return false;
        }

        if (!_broker.Adopt(uuid, initiatorCookie, generation))
        {
            return false;
        }

        _held[uuid] = new Held(initiatorCookie, generation);

        // An announcement of a newer registration may have arrived between the check and the adoption.
        if (_announced.TryGetValue(uuid, out announced) && announced.Generation > generation)
        {
            OnAnnounced(uuid, announced.Generation);
            return false;
        }

        return true;
    }

    private void OnEvent(RedisValue message)
    {
        var text = (string?)message ?? string.Empty;
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || space == text.Length - 1
            || !long.TryParse(text.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var generation))
        {
            RedisLog.MalformedEvent(_logger, text.Length);
            return;
        }

        OnAnnounced(text[(space + 1)..], generation);
    }

    /// <summary>A registration of <paramref name="uuid"/> with <paramref name="generation"/> is current: supersede older ones here.</summary>
    private void OnAnnounced(string uuid, long generation)
    {
        if (_announced.Count < MaxAnnounced || _announced.ContainsKey(uuid))
        {
            var at = _time.GetTimestamp();
            _announced.AddOrUpdate(uuid, (generation, at), (_, old) => old.Generation >= generation ? old : (generation, at));
        }

        if (_broker.Supersede(uuid, generation) && _held.TryGetValue(uuid, out var held) && held.Generation < generation)
        {
            _held.TryRemove(new KeyValuePair<string, Held>(uuid, held));
        }
    }

    private void PruneAnnounced()
    {
        var now = _time.GetTimestamp();
        foreach (var (uuid, announced) in _announced)
        {
            if (_time.GetElapsedTime(announced.At, now) > AnnouncedLifetime)
            {
                _announced.TryRemove(new KeyValuePair<string, (long, long)>(uuid, announced));
            }
        }
    }

    private long LifetimeMilliseconds => (long)_options.EntryLifetime.TotalMilliseconds;

    /// <summary>
    /// Runs a Redis call under one deadline (<see cref="RedisConnection.CommandTimeout"/>, connecting included), turning
    /// any Redis failure into <see cref="RegistrationDirectoryUnavailableException"/> and logging the change of state once.
    /// </summary>
    private async Task<T> CallAsync<T>(Func<IDatabase, Task<T>> call, CancellationToken cancellationToken)
    {
        Task<T> task = RunAsync(call);
        try
        {
            var result = await task.WaitAsync(RedisConnection.CommandTimeout, _time, cancellationToken).ConfigureAwait(false);
            if (Interlocked.Exchange(ref _unavailable, 0) == 1)
            {
                RedisLog.DirectoryAvailable(_logger);
            }

            return result;
        }
        catch (Exception exception) when (exception is RedisException or TimeoutException or ObjectDisposedException)
        {
            _ = task.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            var reason = exception switch
            {
                TimeoutException => "no answer within " + RedisConnection.CommandTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s",
                RedisConnectionException => "not connected",
                ObjectDisposedException => "connection closed",
                _ => "Redis refused the command",
            };
            if (Interlocked.Exchange(ref _unavailable, 1) == 0)
            {
                RedisLog.DirectoryUnavailable(_logger, reason);
            }

            throw new RegistrationDirectoryUnavailableException("Redis is unavailable: " + reason + ".", exception);
        }

        async Task<T> RunAsync(Func<IDatabase, Task<T>> run) => await run(await _redis.GetDatabaseAsync().ConfigureAwait(false)).ConfigureAwait(false);
    }

    private sealed record Held(string InitiatorCookie, long Generation);
}

/// <summary>A live node of the cluster: its id, its public relay endpoint and the parked connections it reported.</summary>
internal sealed record ClusterNode(string Id, RelayAddress Address, long Load);
