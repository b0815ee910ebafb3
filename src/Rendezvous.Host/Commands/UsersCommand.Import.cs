using System.CommandLine;
using System.Globalization;
using System.Net;
using Rendezvous.Protocol;
using Rendezvous.Redis;
using StackExchange.Redis;

namespace Rendezvous.Host.Commands;

/// <summary><c>rendezvous users import --from-redis</c>: migrate the hidden servers of an original node-rendezvous.</summary>
internal static partial class UsersCommand
{
    /// <summary>The variable the password comes from when <c>--password</c> is not given, as with redis-cli.</summary>
    internal const string RedisPasswordVariable = "REDISCLI_AUTH";

    /// <summary>How long connecting (and authenticating) to Redis may take.</summary>
    internal static readonly TimeSpan RedisConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long one Redis command may take.</summary>
    private static readonly TimeSpan RedisCommandTimeout = TimeSpan.FromSeconds(10);

    private static Command CreateImport()
    {
        var fromRedisOption = new Option<string>("--from-redis")
        {
            Description = "The original node-rendezvous Redis server to read, HOST:PORT (HOST a name, an IPv4 address or [IPv6]).",
            HelpName = "HOST:PORT",
            Required = true,
        };
        var passwordOption = new Option<string?>("--password")
        {
            Description = $"The Redis password (AUTH). Defaults to ${RedisPasswordVariable}, like redis-cli; prefer that, since a flag shows in the process list.",
            HelpName = "PASSWORD",
        };
        var dbOption = new Option<int>("--db")
        {
            Description = "The Redis database number to read.",
            HelpName = "N",
            DefaultValueFactory = _ => 0,
            CustomParser = CommandSupport.WholeNumber(0, "a database number, 0 or more (Redis has 0 to 15 unless configured otherwise)"),
        };
        var dryRunOption = new Option<bool>("--dry-run")
        {
            Description = "Report what would be imported and skipped; write nothing.",
        };
        Option<string> dataDirOption = CreateDataDirOption();
        Option<string?> clusterOption = CreateClusterOption();

        var import = new Command(
            "import",
            "Import the hidden servers of an original node-rendezvous Redis database (key = UUID, value = JSON with authParams); existing entries are kept.");
        import.Options.Add(fromRedisOption);
        import.Options.Add(passwordOption);
        import.Options.Add(dbOption);
        import.Options.Add(dataDirOption);
        import.Options.Add(clusterOption);
        import.Options.Add(dryRunOption);
        import.SetAction(async (ParseResult parseResult, CancellationToken cancellationToken) =>
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;

            string fromRedis = parseResult.GetValue(fromRedisOption)!;
            if (!EndpointText.TryParse(fromRedis, allowPortZero: false, out DnsEndPoint? redisEndPoint, out string? redisError))
            {
                await error.WriteLineAsync($"--from-redis {redisError}.").ConfigureAwait(false);
                return BadInput;
            }

            int db = parseResult.GetValue(dbOption);
            if (db < 0)
            {
                await error.WriteLineAsync($"--db {db} is not a database number; expected 0 or more (Redis has 0 to 15 unless configured otherwise).").ConfigureAwait(false);
                return BadInput;
            }

            string? password = parseResult.GetValue(passwordOption)
                ?? (Environment.GetEnvironmentVariable(RedisPasswordVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null);
            bool dryRun = parseResult.GetValue(dryRunOption);
            string endpoint = EndpointText.Format(redisEndPoint);

            var options = new ConfigurationOptions
            {
                Password = password,
                DefaultDatabase = db,
                ClientName = "rendezvous-import",
                AbortOnConnectFail = true,
                ConnectRetry = 1,
                ConnectTimeout = (int)RedisConnectTimeout.TotalMilliseconds,
                AsyncTimeout = (int)RedisCommandTimeout.TotalMilliseconds,
                SyncTimeout = (int)RedisCommandTimeout.TotalMilliseconds,
            };
            options.EndPoints.Add(redisEndPoint.Host, redisEndPoint.Port);

            ConnectionMultiplexer redis;
            try
            {
                redis = await ConnectionMultiplexer.ConnectAsync(options).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (RedisConnectionException e)
            {
                await error.WriteLineAsync(DescribeConnectFailure(endpoint, password is not null, e)).ConfigureAwait(false);
                return Failed;
            }

            await using (redis.ConfigureAwait(false))
            {
                (UsersStore? store, int openFailure) = await OpenStoreAsync(parseResult, dataDirOption, clusterOption, error).ConfigureAwait(false);
                if (store is null)
                {
                    return openFailure;
                }

                await using var storeScope = store.ConfigureAwait(false);
                if (store.Store is RedisSecretStore cluster && await cluster.CheckHealthAsync(cancellationToken).ConfigureAwait(false) is { } clusterProblem)
                {
                    await error.WriteLineAsync($"Cannot use the cluster's Redis at {cluster.Description} (--cluster): {clusterProblem} {UsersStore.ClusterHint}").ConfigureAwait(false);
                    return Failed;
                }

                // Named first, so an import into the wrong data directory (a forgotten --data-dir) is seen at once.
                await output.WriteLineAsync(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{(dryRun ? "Dry run: comparing" : "Importing")} Redis at {endpoint} (db {db}) {(dryRun ? "with" : "into")} {store.Name}")).ConfigureAwait(false);
                var importer = new NodeRendezvousImporter(store.Store, output, dryRun, TimeProvider.System);
                try
                {
                    await importer.ImportAsync(redis.GetDatabase(db), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is RedisException or RedisTimeoutException or RedisCommandException)
                {
                    // Both ends may be Redis: the cluster store failing is reported as such, anything else as the scan's.
                    if (await store.FailsNowAsync(cancellationToken).ConfigureAwait(false))
                    {
                        return await store.ReportFailureAsync(error, e).ConfigureAwait(false);
                    }

                    if (importer.Scanned > 0)
                    {
                        await WriteImportTotalsAsync(output, importer, dryRun).ConfigureAwait(false);
                    }

                    await error.WriteLineAsync(string.Create(
                        CultureInfo.InvariantCulture,
                        $"Reading Redis at {endpoint} (db {db}) failed after {importer.Scanned} keys; the scan is incomplete: {e.Message}")).ConfigureAwait(false);
                    return Failed;
                }
                catch (Exception e) when (UsersStore.IsFailure(e))
                {
                    return await store.ReportFailureAsync(error, e).ConfigureAwait(false);
                }

                await WriteImportTotalsAsync(output, importer, dryRun).ConfigureAwait(false);
                return 0;
            }
        });
        return import;
    }

    private static string DescribeConnectFailure(string endpoint, bool withPassword, RedisConnectionException exception) => exception.FailureType switch
    {
        ConnectionFailureType.AuthenticationFailure when withPassword =>
            $"Redis at {endpoint} refused the password (AUTH failed); give the right one with --password or ${RedisPasswordVariable}. Redis said: {exception.InnerException?.Message ?? exception.Message}",
        ConnectionFailureType.AuthenticationFailure =>
            $"Redis at {endpoint} requires a password; give it with --password or ${RedisPasswordVariable}. Redis said: {exception.InnerException?.Message ?? exception.Message}",
        _ => string.Create(
            CultureInfo.InvariantCulture,
            $"Cannot connect to Redis at {endpoint} within {RedisConnectTimeout.TotalSeconds:0} s ({exception.FailureType}); check --from-redis HOST:PORT and that redis-server listens there."),
    };

    private static Task WriteImportTotalsAsync(TextWriter output, NodeRendezvousImporter importer, bool dryRun) =>
        output.WriteLineAsync(dryRun
            ? string.Create(
                CultureInfo.InvariantCulture,
                $"Dry run, nothing written. Keys scanned: {importer.Scanned}, would import: {importer.Imported}, skipped: {importer.Skipped}.")
            : string.Create(
                CultureInfo.InvariantCulture,
                $"Keys scanned: {importer.Scanned}, imported: {importer.Imported}, skipped: {importer.Skipped}."));
}
