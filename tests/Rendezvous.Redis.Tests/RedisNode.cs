using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Rendezvous.Security;

namespace Rendezvous.Redis.Tests;

/// <summary>
/// What one cluster node holds of the shared state: its own connection to Redis, the secret store and failure counters
/// over it, and a TOTP policy on them, checking codes against a shared fake clock.
/// </summary>
internal sealed class RedisNode : IAsyncDisposable
{
    private readonly RedisConnection _connection;

    public RedisNode(string configuration, FakeTimeProvider time, Action<TotpSecurityOptions>? configure = null)
    {
        _connection = new RedisConnection(Options.Create(new RedisClusterOptions { Configuration = configuration }));
        Store = new RedisSecretStore(_connection, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Counters = new RedisFailureCounterFactory(_connection);
        var options = new TotpSecurityOptions();
        configure?.Invoke(options);
        Policy = new TotpRegistrationPolicy(Store, Options.Create(options), time, Counters, null, null);
    }

    public RedisSecretStore Store { get; }

    public RedisFailureCounterFactory Counters { get; }

    public TotpRegistrationPolicy Policy { get; }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
