using System.CommandLine;
using Microsoft.Data.Sqlite;
using Rendezvous.Redis;
using Rendezvous.Security;
using StackExchange.Redis;

namespace Rendezvous.Host.Commands;

/// <summary>Which secret store a <c>users</c> command works on: the SQLite database of <c>--data-dir</c>, or a cluster's Redis (<c>--cluster</c>).</summary>
internal static partial class UsersCommand
{
    /// <summary>The variable that sets the cluster's key prefix, as for <c>serve</c> (<c>Rendezvous:Cluster:KeyPrefix</c>).</summary>
    internal const string ClusterKeyPrefixVariable = "Rendezvous__Cluster__KeyPrefix";

    private static Option<string?> CreateClusterOption() => new("--cluster")
    {
        Description = "Work on the secrets a cluster's nodes share in Redis instead of the SQLite database of --data-dir: the StackExchange.Redis configuration string given to 'rendezvous serve --cluster' (e.g. redis1:6379,redis2:6379,password=...). Keys are under rendezvous:, or $Rendezvous__Cluster__KeyPrefix when set.",
        HelpName = "REDIS",
    };

    /// <summary>
    /// Opens the store the options name: a bad <c>--cluster</c> value is reported on <paramref name="error"/> and gives
    /// <see cref="BadInput"/> instead. Nothing is connected or created until first use.
    /// </summary>
    private static async Task<(UsersStore? Store, int Failure)> OpenStoreAsync(
        ParseResult parseResult, Option<string> dataDirOption, Option<string?> clusterOption, TextWriter error)
    {
        if (parseResult.GetValue(clusterOption) is not { } cluster)
        {
            return (new UsersStore(SqliteSecretStore.ForDataDirectory(parseResult.GetValue(dataDirOption)!)), 0);
        }

        try
        {
            var options = new RedisClusterOptions { Configuration = cluster };
            if (Environment.GetEnvironmentVariable(ClusterKeyPrefixVariable) is { Length: > 0 } prefix)
            {
                options.KeyPrefix = prefix;
            }

            return (new UsersStore(RedisSecretStore.Create(options)), 0);
        }
        catch (ArgumentException e)
        {
            await error.WriteLineAsync($"--cluster: {e.Message}").ConfigureAwait(false);
            return (null, BadInput);
        }
    }

    /// <summary>A users command's secret store, with the words its messages name it by.</summary>
    private sealed class UsersStore(SecretStore store) : IAsyncDisposable
    {
        public SecretStore Store { get; } = store;

        /// <summary>Where the entries are: the database file, or the cluster's Redis (without its password).</summary>
        public string Name => Store switch
        {
            SqliteSecretStore sqlite => sqlite.DatabasePath,
            RedisSecretStore redis => $"the cluster store at Redis {redis.Description}",
            _ => Store.GetType().Name,
        };

        /// <summary>
        /// Whether the data directory has no database yet, for the commands that only read or change entries: they
        /// create nothing, so a mistyped or forgotten <c>--data-dir</c> is reported as such rather than as a missing UUID.
        /// A cluster store is never missing.
        /// </summary>
        public bool IsMissing => Store is SqliteSecretStore sqlite && !File.Exists(sqlite.DatabasePath);

        public string MissingMessage =>
            $"There is no secret database at {Name}, so no hidden server there. Check --data-dir (the service's data directory, e.g. /var/lib/rendezvous, or $Rendezvous__DataDirectory), or give --cluster REDIS for a cluster's shared store; 'rendezvous users add' creates the database.";

        public static bool IsFailure(Exception exception) =>
            exception is IOException or UnauthorizedAccessException or SqliteException or RedisException or RedisTimeoutException;

        /// <summary>Reports that the store cannot be used, naming it and what to check; returns <see cref="Failed"/>.</summary>
        public async Task<int> ReportFailureAsync(TextWriter error, Exception exception)
        {
            await error.WriteLineAsync(Store is RedisSecretStore redis
                ? $"Cannot use the cluster's Redis at {redis.Description} (--cluster): {exception.Message} {ClusterHint}"
                : $"Cannot use the secret database {Name}: {exception.Message}").ConfigureAwait(false);
            return Failed;
        }

        public const string ClusterHint = "Check that redis-server listens there and this machine may connect to it, and the --cluster options password=, user= and ssl=.";

        /// <summary>Whether the store is a cluster's Redis that does not answer now (its health check fails).</summary>
        public async Task<bool> FailsNowAsync(CancellationToken cancellationToken) =>
            Store is RedisSecretStore redis && await redis.CheckHealthAsync(cancellationToken).ConfigureAwait(false) is not null;

        public ValueTask DisposeAsync() => Store is IAsyncDisposable disposable ? disposable.DisposeAsync() : ValueTask.CompletedTask;
    }
}
