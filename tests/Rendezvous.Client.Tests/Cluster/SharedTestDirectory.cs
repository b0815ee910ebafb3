using Microsoft.Extensions.DependencyInjection;
using Rendezvous.Protocol;
using Rendezvous.Protocol.Broker;
using Rendezvous.Protocol.Registrar;
using Rendezvous.Tests.Common;

namespace Rendezvous.Client.Tests.Cluster;

/// <summary>
/// A test double of the <see cref="IRegistrationDirectory"/> seam shared by several in-process servers (a cluster without
/// Redis): its entries live in memory; each node gets a view of it bound to its own broker. A registration through a
/// node makes that node the owner and every other live node an alternate, adopts it in the owner's broker and
/// supersedes older ones elsewhere; a relay that meets an unknown cookie adopts it when its node is the owner or an
/// alternate. Relays, registrars and sockets stay real. There is no liveness: a stopped node stays the owner of what
/// it registered until the hidden server registers again, as in the seconds before a real cluster notices.
/// </summary>
internal sealed class SharedTestDirectory : IAsyncDisposable
{
    private readonly TemporaryDirectory _data = new();
    private readonly List<RendezvousTestServer> _servers = [];
    private readonly Lock _lock = new();
    private readonly List<Node> _nodes = [];
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private long _generation;

    private readonly HashSet<RendezvousBroker> _unavailable = [];

    /// <summary>The pool advice given with registrations; none when <see langword="null"/>.</summary>
    public int? PoolAdvice { get; set; }

    /// <summary>How many registrations were issued, through any node.</summary>
    public int Registrations { get; private set; }

    /// <summary>How many times a relay met a cookie its node could not adopt (unavailable, or not a node of the registration).</summary>
    public int AdoptRefusals => Volatile.Read(ref _adoptRefusals);

    private int _adoptRefusals;

    /// <summary>Adds the directory to a server being configured (with a policy that accepts every code).</summary>
    public void AddTo(IRendezvousServerBuilder builder)
    {
        builder.AddPolicy(ClientTestKit.AcceptingPolicy().Object);
        builder.Services.AddSingleton<IRegistrationDirectory>(services => new View(this, services.GetRequiredService<RendezvousBroker>()));
    }

    /// <summary>
    /// Starts a node that uses this directory, keeping up to 8 parked connections per cookie. The nodes share one data
    /// directory, so one registrar certificate (as a cluster's nodes do); disposing the directory stops them.
    /// </summary>
    public async Task<RendezvousTestServer> StartNodeAsync()
    {
        var settings = new Dictionary<string, string?> { ["Rendezvous:Relay:ParkedConnectionsPerCookie"] = "8" };
        var server = await RendezvousTestServer.StartAsync(AddTo, settings, dataDirectory: _data.Path);
        lock (_lock)
        {
            _servers.Add(server);
            _nodes.Add(new Node(server.Broker, new RelayAddress("127.0.0.1", server.RelayEndPoint.Port)));
        }

        return server;
    }

    /// <summary>Stops every node and deletes their data directory.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var server in Enumerable.Reverse(_servers))
            {
                await server.DisposeAsync();
            }
        }
        finally
        {
            _data.Dispose();
        }
    }

    /// <summary>Stops naming <paramref name="server"/> as an owner or alternate in new registrations (it was stopped).</summary>
    public void MarkDown(RendezvousTestServer server)
    {
        lock (_lock)
        {
            _nodes.Single(n => n.Broker == server.Broker).Alive = false;
        }
    }

    /// <summary>Makes <paramref name="server"/>'s view throw <see cref="RegistrationDirectoryUnavailableException"/> (its registrar answers 503), or not.</summary>
    public void SetUnavailable(RendezvousTestServer server, bool unavailable)
    {
        lock (_lock)
        {
            if (unavailable)
            {
                _unavailable.Add(server.Broker);
            }
            else
            {
                _unavailable.Remove(server.Broker);
            }
        }
    }

    private bool IsUnavailable(RendezvousBroker broker)
    {
        lock (_lock)
        {
            return _unavailable.Contains(broker);
        }
    }

    /// <summary>The relay that owns <paramref name="uuid"/>'s current registration.</summary>
    public RelayAddress? OwnerOf(string uuid)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(uuid, out var entry) ? entry.Owner.Relay : null;
        }
    }

    private sealed class Node(RendezvousBroker broker, RelayAddress relay)
    {
        public RendezvousBroker Broker { get; } = broker;

        public RelayAddress Relay { get; } = relay;

        public bool Alive { get; set; } = true;
    }

    private sealed record Entry(string Uuid, string InitiatorValue, long Generation, Node Owner, Node[] Alternates);

    private sealed class View(SharedTestDirectory shared, RendezvousBroker broker) : IRegistrationDirectory
    {
        public ValueTask<DirectoryEntry> RegisterAsync(string uuid, CancellationToken cancellationToken = default)
        {
            ThrowIfUnavailable();
            var responder = RendezvousCookies.NewResponderValue();
            Entry entry;
            lock (shared._lock)
            {
                var owner = shared._nodes.Single(n => n.Broker == broker);
                entry = new Entry(uuid, RendezvousCookies.InitiatorValueFor(responder), ++shared._generation, owner, [.. shared._nodes.Where(n => n != owner && n.Alive)]);
                shared._entries[uuid] = entry;
                shared.Registrations++;
                foreach (var node in shared._nodes.Where(n => n != owner))
                {
                    node.Broker.Supersede(uuid, entry.Generation);
                }
            }

            broker.Adopt(uuid, entry.InitiatorValue, entry.Generation);
            return ValueTask.FromResult(new DirectoryEntry(responder, entry.Owner.Relay, [.. entry.Alternates.Select(n => n.Relay)], shared.PoolAdvice));
        }

        public ValueTask<DirectoryEntry?> LookupAsync(string uuid, CancellationToken cancellationToken = default)
        {
            ThrowIfUnavailable();
            lock (shared._lock)
            {
                return ValueTask.FromResult(shared._entries.TryGetValue(uuid, out var entry)
                    ? new DirectoryEntry(entry.InitiatorValue, entry.Owner.Relay, [.. entry.Alternates.Select(n => n.Relay)])
                    : null);
            }
        }

        public ValueTask<bool> UnregisterAsync(string uuid, CancellationToken cancellationToken = default)
        {
            ThrowIfUnavailable();
            lock (shared._lock)
            {
                return ValueTask.FromResult(shared._entries.Remove(uuid));
            }
        }

        public ValueTask<bool> TryAdoptAsync(string initiatorCookie, CancellationToken cancellationToken = default)
        {
            if (shared.IsUnavailable(broker))
            {
                Interlocked.Increment(ref shared._adoptRefusals);
                return ValueTask.FromResult(false);
            }

            Entry? entry;
            lock (shared._lock)
            {
                entry = shared._entries.Values.FirstOrDefault(e => string.Equals(e.InitiatorValue, initiatorCookie, StringComparison.Ordinal)
                    && (e.Owner.Broker == broker || e.Alternates.Any(n => n.Broker == broker)));
            }

            return ValueTask.FromResult(entry is not null && broker.Adopt(entry.Uuid, entry.InitiatorValue, entry.Generation));
        }

        private void ThrowIfUnavailable()
        {
            if (shared.IsUnavailable(broker))
            {
                throw new RegistrationDirectoryUnavailableException("the test directory is unavailable");
            }
        }
    }
}
