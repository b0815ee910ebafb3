using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Rendezvous.Redis;

/// <summary>Checks the cluster options at start, naming the bad value and what would be accepted.</summary>
internal sealed class RedisClusterOptionsValidator : IValidateOptions<RedisClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, RedisClusterOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Configuration))
        {
            failures.Add("Rendezvous:Cluster:Configuration is required: a StackExchange.Redis configuration string such as 127.0.0.1:6379 or redis1:6379,redis2:6379,serviceName=mymaster.");
        }
        else
        {
            try
            {
                _ = ConfigurationOptions.Parse(options.Configuration);
            }
            catch (ArgumentException exception)
            {
                failures.Add($"Rendezvous:Cluster:Configuration '{options.Configuration}' is not a StackExchange.Redis configuration string ({exception.Message}); expected host:port[,host:port...][,option=value...].");
            }
        }

        if (options.NodeId is { } node && (node.Length is 0 or > 200 || node.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))))
        {
            failures.Add($"Rendezvous:Cluster:NodeId '{node}' must be 1 to 200 printable characters without spaces.");
        }

        if (string.IsNullOrEmpty(options.KeyPrefix) || options.KeyPrefix.Length > 100 || options.KeyPrefix.Any(char.IsControl))
        {
            failures.Add($"Rendezvous:Cluster:KeyPrefix '{options.KeyPrefix}' must be 1 to 100 printable characters.");
        }

        if (options.HeartbeatInterval < TimeSpan.FromMilliseconds(100) || options.HeartbeatInterval > TimeSpan.FromMinutes(1))
        {
            failures.Add($"Rendezvous:Cluster:HeartbeatInterval '{options.HeartbeatInterval}' must be from 00:00:00.1 to 00:01:00, e.g. 00:00:01.");
        }

        if (options.NodeTimeout < options.HeartbeatInterval * 2 || options.NodeTimeout > TimeSpan.FromMinutes(10))
        {
            failures.Add($"Rendezvous:Cluster:NodeTimeout '{options.NodeTimeout}' must be at least twice HeartbeatInterval ({options.HeartbeatInterval}) and at most 00:10:00, e.g. 00:00:03.");
        }

        if (options.Alternates is < 0 or > 2)
        {
            failures.Add($"Rendezvous:Cluster:Alternates '{options.Alternates}' must be 0, 1 or 2.");
        }

        if (!Enum.IsDefined(options.Placement))
        {
            failures.Add($"Rendezvous:Cluster:Placement '{options.Placement}' must be Self or LeastLoaded.");
        }

        if (options.EntryLifetime < TimeSpan.FromMinutes(1) || options.EntryLifetime > TimeSpan.FromDays(30))
        {
            failures.Add($"Rendezvous:Cluster:EntryLifetime '{options.EntryLifetime}' must be from 00:01:00 to 30.00:00:00, e.g. 01:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
