using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Rendezvous.Security.Internal;

/// <summary>
/// Binds <see cref="TotpSecurityOptions"/> from <c>Rendezvous:Security</c> and fills in the database path from
/// <c>Rendezvous:DataDirectory</c>; both work without any <see cref="IConfiguration"/> registered (defaults apply).
/// </summary>
internal sealed class TotpSecurityConfigureOptions : IConfigureOptions<TotpSecurityOptions>, IPostConfigureOptions<TotpSecurityOptions>
{
    private readonly IConfiguration? _configuration;

    public TotpSecurityConfigureOptions(IServiceProvider services)
    {
        _configuration = services.GetService<IConfiguration>();
    }

    public void Configure(TotpSecurityOptions options)
    {
        _configuration?.GetSection(TotpSecurityOptions.SectionName).Bind(options);
    }

    public void PostConfigure(string? name, TotpSecurityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.DatabasePath is null)
        {
            string? directory = _configuration?[TotpSecurityOptions.DataDirectoryKey];
            options.DatabasePath = Path.Combine(
                string.IsNullOrWhiteSpace(directory) ? TotpSecurityOptions.DefaultDataDirectory : directory,
                SqliteSecretStore.DefaultFileName);
        }
    }
}
