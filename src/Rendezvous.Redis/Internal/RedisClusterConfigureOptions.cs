using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Rendezvous.Redis;

/// <summary>Binds <see cref="RedisClusterOptions"/> from <see cref="RedisClusterOptions.SectionName"/> when configuration is registered.</summary>
internal sealed class RedisClusterConfigureOptions(IConfiguration? configuration = null) : IConfigureOptions<RedisClusterOptions>
{
    public void Configure(RedisClusterOptions options)
    {
        configuration?.GetSection(RedisClusterOptions.SectionName).Bind(options);
    }
}
