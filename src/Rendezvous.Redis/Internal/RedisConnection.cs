using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>
/// The node's one connection to Redis, opened on first use and shared by the stores and the directory. It never fails
/// to open for Redis being down (StackExchange.Redis reconnects by itself); commands fail fast instead, within
/// <see cref="CommandTimeout"/>, and the callers turn that into a clear answer.
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable
{
    /// <summary>How long one command may take before it fails.</summary>
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(2);

    private readonly Lazy<Task<ConnectionMultiplexer>> _multiplexer;
    private readonly ILogger _logger;

    public RedisConnection(IOptions<RedisClusterOptions> options, ILogger<RedisConnection>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Value;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        Prefix = Options.KeyPrefix;
        Description = Describe(Options);
        _multiplexer = new Lazy<Task<ConnectionMultiplexer>>(ConnectAsync);
    }

    /// <summary>The options the connection was made with.</summary>
    public RedisClusterOptions Options { get; }

    /// <summary>The prefix of every key and channel.</summary>
    public string Prefix { get; }

    /// <summary>Where the connection goes, for messages and logs: the configuration without its password, and the key prefix.</summary>
    public string Description { get; }

    /// <summary>The multiplexer, connected (or connecting in the background while Redis is down).</summary>
    public Task<ConnectionMultiplexer> GetAsync() => _multiplexer.Value;

    /// <summary>The database commands go to.</summary>
    public async Task<IDatabase> GetDatabaseAsync() => (await GetAsync().ConfigureAwait(false)).GetDatabase();

    public async ValueTask DisposeAsync()
    {
        if (_multiplexer.IsValueCreated)
        {
            var multiplexer = await _multiplexer.Value.ConfigureAwait(false);
            await multiplexer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether an exception says that Redis failed (down, too slow, refusing a command) rather than the caller.</summary>
    public static bool IsRedisFailure(Exception exception) => exception is RedisException or RedisTimeoutException;

    /// <summary>The configuration string as shown to people: without its password.</summary>
    public static string Describe(RedisClusterOptions options)
    {
        string configuration;
        try
        {
            configuration = ConfigurationOptions.Parse(options.Configuration ?? string.Empty).ToString(includePassword: false);
        }
        catch (ArgumentException)
        {
            configuration = "(an invalid configuration)";
        }

        return $"{configuration} (keys {options.KeyPrefix}*)";
    }

    private async Task<ConnectionMultiplexer> ConnectAsync()
    {
        var configuration = ConfigurationOptions.Parse(Options.Configuration!);
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = (int)CommandTimeout.TotalMilliseconds;
        configuration.SyncTimeout = (int)CommandTimeout.TotalMilliseconds;
        configuration.AsyncTimeout = (int)CommandTimeout.TotalMilliseconds;
        configuration.ClientName ??= "rendezvous";

        // While no connection is up, a command fails at once rather than waiting in a backlog for its timeout: what
        // needs Redis answers "unavailable, retry" promptly, and reconnecting goes on in the background.
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        var multiplexer = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        if (!multiplexer.IsConnected)
        {
            RedisLog.NotConnected(_logger, Options.Configuration!);
        }

        return multiplexer;
    }
}
